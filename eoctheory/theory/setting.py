r"""One setting resolver: from what a user asks for to a complete initialisation.

A *setting* is what every command, network, predictor, training run and sweep needs: the
activation with its parameters, the fixed-point variance :math:`q^*` and the variances
:math:`(\sigma_w^2, \sigma_b^2)`. Users describe it the way the paper does (Sec. 3.1,
App. A):

* the threshold :math:`\tau` directly, or through the target sparsity :math:`s` at
  :math:`q^*` (eq. 12, :func:`~eoctheory.theory.eoc.tau_from_sparsity`);
* the clipping height :math:`m` directly, or through the slope of the variance map that it
  should give on the Edge of Chaos, :math:`V'(q^*) =` ``target_slope``
  (:func:`~eoctheory.theory.eoc.m_for_slope`); an activation named by its catalogue name,
  with a clipping height and neither given, gets :data:`DEFAULT_TARGET_SLOPE`;
* :math:`(\sigma_w^2, \sigma_b^2)` on the Edge of Chaos by default,

.. math::

    \chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*}Z)^2] = 1, \qquad
    \sigma_b^2 = q^* - \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q^*}Z)^2],

or both given, off the Edge of Chaos.

:func:`resolve_setting` checks the arguments once and returns a :class:`Setting`; everything
downstream takes the setting and checks nothing again.

Examples
--------
>>> from eoctheory.theory.setting import resolve_setting
>>> s = resolve_setting("crelu", sparsity=0.85, target_slope=0.7)
>>> round(s.variance_slope, 12), round(s.sparsity, 12), round(s.chi1, 12)
(0.7, 0.85, 1.0)
>>> round(s.tau, 6), round(s.m, 6)
(1.036433, 1.170367)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eoctheory.engine import maps
from eoctheory.engine.activations import Activation, get_activation
from eoctheory.theory import eoc as eoc_theory

__all__ = ["DEFAULT_TARGET_SLOPE", "Setting", "SettingArrays", "resolve_arrays", "resolve_setting"]

#: The slope :math:`V'(q^*)` on the Edge of Chaos that fixes the clipping height :math:`m`
#: when neither ``m`` nor ``target_slope`` is given (the paper's middle value, Sec. 3.1).
DEFAULT_TARGET_SLOPE = 0.7


@dataclass(frozen=True)
class Setting(eoc_theory.SlopeAliases):
    r"""A resolved initialisation (see :func:`resolve_setting`).

    Attributes
    ----------
    activation : Activation
        With every parameter value set (``tau`` from the sparsity, ``m`` from the slope).
    q_star : float
        The fixed-point variance :math:`q^*` the initialisation aims at.
    sigma_w2, sigma_b2 : float
        Weight and bias variances :math:`\sigma_w^2, \sigma_b^2`.
    sparsity : float
        Expected sparsity :math:`P(\phi(\sqrt{q^*}Z) = 0)` (eq. 12).
    chi1 : float
        :math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*}Z)^2]` (eq. 11); 1 on the EoC.
    variance_slope, variance_curvature : float
        :math:`V'(q^*)` and :math:`V''(q^*)` of the variance map (eq. 3, 13).
    target_slope : float or None
        The slope that fixed ``m``, if one did.
    on_eoc : bool
        Whether :math:`(\sigma_w^2, \sigma_b^2)` came from the EoC recipe (App. A).
    other_m : tuple of float
        Other clipping heights that reach the same ``target_slope`` (empty when the solution
        is unique; see :func:`~eoctheory.theory.eoc.m_for_slope` for which one is chosen).
    """

    activation: Activation
    q_star: float
    sigma_w2: float
    sigma_b2: float
    sparsity: float
    chi1: float
    variance_slope: float
    variance_curvature: float
    target_slope: float | None = None
    on_eoc: bool = True
    other_m: tuple[float, ...] = field(default=())

    @property
    def params(self) -> dict[str, float]:
        """The activation's parameter values."""
        return dict(self.activation.values)

    @property
    def tau(self) -> float | None:
        """The threshold :math:`\\tau`, or None if the activation has none."""
        return self.activation.values.get("tau")

    @property
    def m(self) -> float | None:
        """The clipping height :math:`m`, or None if the activation has none."""
        return self.activation.values.get("m")

    def __repr__(self) -> str:
        from eoctheory.display import short_repr

        d = self.to_dict()
        shown = ("activation", "params", "q_star", "sigma_w2", "sigma_b2", "sparsity", "chi1",
                 "variance_slope", "on_eoc")
        return short_repr("Setting", {k: d[k] for k in shown}, digits=4)

    def _repr_html_(self) -> str:
        from eoctheory.display import html_table

        d = self.to_dict()
        del d["params"]  # tau and m have rows of their own (None where absent)
        return html_table(f"Setting: {self.activation.name}", d)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the keys are documented in the README's JSON section)."""
        return {
            "activation": self.activation.name,
            "expr": None if self.activation.expr is None else str(self.activation.expr),
            "params": self.params,
            "tau": self.tau,
            "m": self.m,
            "q_star": self.q_star,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "sparsity": self.sparsity,
            "chi1": self.chi1,
            "variance_slope": self.variance_slope,
            "variance_curvature": self.variance_curvature,
            "target_slope": self.target_slope,
            "on_eoc": self.on_eoc,
            "other_m": list(self.other_m),
        }


def _finite(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return v


def _finite_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return arr


@dataclass(frozen=True)
class SettingArrays:
    r"""Many settings at once (from :func:`resolve_arrays`), every field broadcast to ``shape``.

    ``activation`` keeps its own values; ``params`` holds the resolved parameter arrays
    (``tau``, ``m``, ...). ``other_m`` is an object array of the other clipping heights that
    reach ``target_slope`` (see :func:`~eoctheory.theory.eoc.m_for_slope`).
    """

    activation: Activation
    shape: tuple[int, ...]
    params: dict[str, np.ndarray]
    q_star: np.ndarray
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    target_slope: np.ndarray | None
    on_eoc: bool
    other_m: np.ndarray | None


def resolve_arrays(activation: Activation | str, *, sparsity: Any = None, tau: Any = None,
                   m: Any = None, target_slope: Any = None, q_star: Any = 1.0,
                   sigma_w2: Any = None, sigma_b2: Any = None,
                   default_slope: bool | None = None, **params: Any) -> SettingArrays:
    r"""The vectorised core of :func:`resolve_setting`: every argument may be an array.

    The same rules and checks as :func:`resolve_setting`; the result's arrays broadcast
    over all inputs (a phase diagram over (sparsity, m) is one call).

    Examples
    --------
    >>> import numpy as np
    >>> g = resolve_arrays("crelu", sparsity=np.array([0.6, 0.85]), m=np.array([[1.0], [2.0]]))
    >>> g.shape, g.params["tau"].shape, g.sigma_w2.shape
    ((2, 2), (2, 2), (2, 2))
    """
    if default_slope is None:
        default_slope = isinstance(activation, str)
    act = get_activation(activation)
    names = act.param_names
    q = _finite_array(q_star, "q_star")
    if np.any(q <= 0):
        raise ValueError(f"q_star must be a variance > 0 (got {q_star!r})")
    if sparsity is not None and tau is not None:
        raise ValueError("give at most one of sparsity and tau")
    if m is not None and target_slope is not None:
        raise ValueError("give at most one of m and target_slope")
    if (sigma_w2 is None) != (sigma_b2 is None):
        raise ValueError("give both sigma_w2 and sigma_b2 (off the EoC) or neither (on it)")
    if (sparsity is not None or tau is not None) and "tau" not in names:
        raise ValueError(f"activation {act.name!r} has no threshold tau: drop sparsity/tau")
    if (m is not None or target_slope is not None) and "m" not in names:
        raise ValueError(f"activation {act.name!r} has no clipping height m: drop "
                         "m/target_slope")
    values: dict[str, Any] = dict(params)
    if tau is not None:
        values["tau"] = tau
    if m is not None:
        values["m"] = m
    checked = act.resolve(values)  # ranges of every parameter, named in the message
    values = {k: v for k, v in zip(names, checked) if k in values}
    if sparsity is not None:
        s = _finite_array(sparsity, "sparsity")
        if np.any((s <= 0) | (s >= 1)):
            raise ValueError(f"sparsity must be in (0, 1) (got {sparsity!r})")
    if target_slope is None and m is None and default_slope and "m" in names:
        target_slope = DEFAULT_TARGET_SLOPE
    t = other_m = None
    if target_slope is not None:
        t = _finite_array(target_slope, "target_slope")
        kw = {"sparsity": sparsity} if sparsity is not None else \
            {"tau": values.get("tau", act.values.get("tau", 0.0))} if "tau" in names else {}
        others = {k: v for k, v in values.items() if k not in ("tau", "m")}
        if any(np.ndim(v) for v in others.values()):
            raise ValueError("target_slope with array-valued other parameters is not supported")
        base = act.with_values(**{k: float(v) for k, v in others.items()}) if others else act
        sol = eoc_theory.m_for_slope(base, t, q_star=q, **kw)
        if "tau" in names:
            values["tau"] = np.asarray(sol.tau)
        values["m"] = np.asarray(sol.m)
        other_m = sol.other_m
    elif sparsity is not None:
        others = {k: v for k, v in values.items() if k != "tau"}
        values["tau"] = np.asarray(eoc_theory.tau_from_sparsity(act, sparsity, q, **others))
    full = {k: np.asarray(values.get(k, act.values[k]), dtype=float) for k in names}
    on_eoc = sigma_w2 is None
    if on_eoc:
        pt = eoc_theory.eoc_point(act, q, **full)
        sw2, sb2 = np.asarray(pt.sigma_w2, float), np.asarray(pt.sigma_b2, float)
    else:
        sw2 = _finite_array(sigma_w2, "sigma_w2")
        sb2 = _finite_array(sigma_b2, "sigma_b2")
        if np.any(sw2 <= 0):
            raise ValueError(f"sigma_w2 must be > 0 (got {sigma_w2!r})")
        if np.any(sb2 < 0):
            raise ValueError(f"sigma_b2 must be >= 0 (got {sigma_b2!r})")
    arrays = np.broadcast_arrays(q, sw2, sb2, *full.values())
    shape = arrays[0].shape
    return SettingArrays(act, shape, dict(zip(names, arrays[3:])), arrays[0], arrays[1],
                         arrays[2], t, on_eoc, other_m)


def resolve_setting(activation: Activation | str, *, sparsity: float | None = None,
                    tau: float | None = None, m: float | None = None,
                    target_slope: float | None = None, q_star: float = 1.0,
                    sigma_w2: float | None = None, sigma_b2: float | None = None,
                    default_slope: bool | None = None, **params: float) -> Setting:
    r"""Turn (activation, sparsity | tau, m | target slope, q*) into a complete :class:`Setting`.

    Parameters
    ----------
    activation : Activation or str
        A catalogue name or an :class:`~eoctheory.engine.activations.Activation` (e.g. from
        ``Activation.from_string``).
    sparsity : float, optional
        Target sparsity :math:`s \in (0, 1)` at :math:`q^*`; sets ``tau`` (eq. 12).
        Exclusive with ``tau``.
    tau : float, optional
        The threshold :math:`\tau \ge 0`.
    m : float, optional
        The clipping height :math:`m > 0`. Exclusive with ``target_slope``.
    target_slope : float, optional
        Choose ``m`` so that :math:`V'(q^*)` on the EoC equals this (Sec. 3.1).
    q_star : float, default 1
        Fixed-point variance :math:`q^*`.
    sigma_w2, sigma_b2 : float, optional
        Give both to initialise off the Edge of Chaos (``target_slope`` then still refers to
        the EoC map, as in the paper).
    default_slope : bool, optional
        Whether an activation with a clipping height ``m`` and neither ``m`` nor
        ``target_slope`` gets ``target_slope = DEFAULT_TARGET_SLOPE`` (True) or keeps its own
        value of ``m`` (False). By default True for a catalogue name (whose ``m`` is only a
        placeholder) and False for an :class:`Activation` object (whose values were set by
        its maker); the command line always uses True.
    **params
        Values of the activation's other parameters.

    Returns
    -------
    Setting

    Raises
    ------
    ValueError
        Conflicting or out-of-range arguments, an option the activation has no parameter
        for, an unreachable sparsity or slope, or no EoC point at this :math:`q^*`.

    Examples
    --------
    >>> s = resolve_setting("relu", sparsity=0.5)
    >>> s.sigma_w2, s.sigma_b2, s.variance_slope
    (2.0, 0.0, 1.0)
    """
    named = {"sparsity": sparsity, "tau": tau, "m": m, "target_slope": target_slope,
             "q_star": q_star, "sigma_w2": sigma_w2, "sigma_b2": sigma_b2, **params}
    for key, value in named.items():
        if value is not None:
            _finite(value, key)  # one number each (arrays: resolve_arrays)
    g = resolve_arrays(activation, sparsity=sparsity, tau=tau, m=m, target_slope=target_slope,
                       q_star=q_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
                       default_slope=default_slope, **params)
    act = g.activation
    values = {k: float(v) for k, v in g.params.items()}
    act = act.with_values(**values) if values else act
    q, sw2, sb2 = float(g.q_star), float(g.sigma_w2), float(g.sigma_b2)
    other_m = () if g.other_m is None else tuple(float(v) for v in np.ravel(g.other_m)[0])
    return Setting(act, q, sw2, sb2,
                   sparsity=float(maps.sparsity(act, q)),
                   chi1=float(maps.chi1(act, q, sw2)),
                   variance_slope=float(maps.variance_slope(act, q, sw2)),
                   variance_curvature=float(maps.variance_curvature(act, q, sw2)),
                   target_slope=None if g.target_slope is None else float(g.target_slope),
                   on_eoc=g.on_eoc, other_m=other_m)
