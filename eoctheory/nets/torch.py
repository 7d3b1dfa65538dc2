r"""PyTorch backend: any activation as a module, Edge-of-Chaos initialisation, monitors.

Optional: ``import eoctheory`` never imports torch; this module does (``pip install
'eoctheory[torch]'``). It gives PyTorch users drop-in pieces:

* every eoctheory :class:`~eoctheory.engine.activations.Activation` -- catalogue or a
  user's SymPy expression -- as a :class:`torch.nn.Module` (:class:`SymbolicActivation`,
  :func:`activation_module`), forward and backward generated from the definition by
  :mod:`eoctheory.nets.kernels`, with gradient :math:`\phi'` exactly 0 on flat parts and at
  their end points (the convention of :meth:`Activation.derivative`); the paper's four
  (eq. 7-10) as named subclasses,

  .. math::

      \mathrm{ReLU}_\tau(x) = \max(0, x-\tau),\qquad
      \mathrm{ST}_\tau(x) = \operatorname{sign}(x)\max(0, |x|-\tau),

      \mathrm{CReLU}_{\tau,m}(x) = \min(\max(0, x-\tau), m),\qquad
      \mathrm{CST}_{\tau,m}(x) = \operatorname{sign}(x)\min(\max(0, |x|-\tau), m),

  each built from a target sparsity :math:`s` at :math:`q^*` (eq. 12) and, for the clipped
  ones, a target slope :math:`V'(q^*)` (Sec. 3.1) with :meth:`SparseActivation.from_sparsity`;
  the hand-written functional forms :func:`relu_tau`, :func:`st_tau`, :func:`crelu`,
  :func:`cst` stay as references (tests and ``benchmarks/bench_kernels.py``);
* :func:`eoc_init_`, in the style of :mod:`torch.nn.init`: weights of every ``Linear`` /
  ``Conv1d`` / ``Conv2d`` :math:`\sim N(0, \sigma_w^2/\text{fan\_in})`, biases
  :math:`\sim N(0, \sigma_b^2)` at the EoC point (App. A), the first layer optionally
  preserving the input variance (App. D);
* builders for the paper's DNN (:func:`dnn`) and CNN (:func:`cnn`) with any activation, and
  :func:`from_reference`, which copies a NumPy :class:`~eoctheory.nets.reference.Network`;
* monitors built on hooks: :class:`SparsityMonitor` (per-layer activation sparsity, forward
  hooks) and :class:`GradientMonitor` (per-layer :math:`\|\partial\mathcal L/\partial W^l\|`
  and :math:`\|\delta^l\| = \|\partial\mathcal L/\partial h^l\|`, App. A / THEORY.md §5).

Examples
--------
>>> import torch
>>> from eoctheory.nets import torch as et
>>> act = et.CReLU.from_sparsity(0.85, target_slope=0.7)
>>> round(act.tau, 5), round(act.m, 5)
(1.03643, 1.17037)
>>> model = et.dnn(784, width=64, depth=5, n_classes=10, activation=act)
>>> ini = et.eoc_init_(model, act, generator=torch.Generator().manual_seed(0))
>>> round(ini.sigma_w2, 6)
7.334819
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence


import numpy as np


class TorchMissingError(ImportError):
    """torch is not installed (``pip install 'eoctheory[torch]'``)."""


try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as _exc:  # pragma: no cover - exercised without torch
    raise TorchMissingError("eoctheory.nets.torch needs PyTorch: pip install "
                            f"'eoctheory[torch]' ({_exc})") from _exc

from eoctheory.engine.activations import CATALOGUE, Activation, get_activation
from eoctheory.nets.network import Init, Network, eoc_init
from eoctheory.nets.torch_kernels import torch_function
from eoctheory.theory.setting import resolve_setting

__all__ = [
    "ACTIVATIONS",
    "CReLU",
    "CST",
    "GradientMonitor",
    "LayerStats",
    "ReLUTau",
    "STTau",
    "SparseActivation",
    "SparsityMonitor",
    "SymbolicActivation",
    "TorchMissingError",
    "activation_module",
    "cnn",
    "crelu",
    "cst",
    "dnn",
    "eoc_init_",
    "from_reference",
    "init_layers",
    "layer_stats",
    "make_activation",
    "relu_tau",
    "st_tau",
    "weight_layers",
]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_FIRST_LAYER = ("standard", "preserve")


def _check_nonneg(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _check_pos(value: Any, name: str) -> float:
    v = _check_nonneg(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def _check_int(value: Any, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------
# Hand-written functions (fused torch ops; gradient 0 on flat parts and at kinks): the
# references the generated modules are tested and benchmarked against
# ------------------------------------------------------------------------------------------
def relu_tau(x: torch.Tensor, tau: float = 0.0) -> torch.Tensor:
    r""":math:`\mathrm{ReLU}_\tau(x) = \max(0, x - \tau)` (eq. 7).

    Gradient :math:`\mathbb 1[x > \tau]` (0 at the kink).

    Examples
    --------
    >>> relu_tau(torch.tensor([-1.0, 0.5, 2.0]), 0.5)
    tensor([0.0000, 0.0000, 1.5000])
    """
    return F.relu(x - tau) if tau else F.relu(x)


def st_tau(x: torch.Tensor, tau: float = 0.0) -> torch.Tensor:
    r""":math:`\mathrm{ST}_\tau(x) = 0` if :math:`|x| \le \tau`, else :math:`x - \operatorname{sign}(x)\tau` (eq. 8).

    Soft thresholding (``torch.nn.functional.softshrink``); gradient :math:`\mathbb 1[|x| > \tau]`.

    Examples
    --------
    >>> st_tau(torch.tensor([-2.0, 0.3, 1.0]), 0.5)
    tensor([-1.5000,  0.0000,  0.5000])
    """
    return F.softshrink(x, tau) if tau else x.clone()


def crelu(x: torch.Tensor, tau: float = 0.0, m: float = 1.0) -> torch.Tensor:
    r""":math:`\mathrm{CReLU}_{\tau,m}(x) = \min(\max(0, x-\tau), m)` (eq. 9).

    Gradient :math:`\mathbb 1[\tau < x < \tau + m]` (0 on both flat parts and at the kinks).

    Examples
    --------
    >>> crelu(torch.tensor([0.0, 1.0, 5.0]), 0.5, 1.0)
    tensor([0.0000, 0.5000, 1.0000])
    """
    return F.hardtanh(x - tau if tau else x, 0.0, m)


def cst(x: torch.Tensor, tau: float = 0.0, m: float = 1.0) -> torch.Tensor:
    r""":math:`\mathrm{CST}_{\tau,m}(x) = \operatorname{sign}(x)\min(\max(0,|x|-\tau), m)` (eq. 10).

    Gradient :math:`\mathbb 1[\tau < |x| < \tau + m]`.

    Examples
    --------
    >>> cst(torch.tensor([-5.0, 0.2, 1.0]), 0.5, 1.0)
    tensor([-1.0000,  0.0000,  0.5000])
    """
    return F.hardtanh(F.softshrink(x, tau) if tau else x, -m, m)


# ------------------------------------------------------------------------------------------
# Modules (kernels generated from the activation's definition, eoctheory.nets.kernels)
# ------------------------------------------------------------------------------------------
#: names a parameter cannot have: a module's own attributes (``training``, ``forward``, ...)
_RESERVED = frozenset({"activation", "name", "init", "has_m", "copy", "eoc", "to_activation",
                       *vars(nn.Module())})


class SymbolicActivation(nn.Module):
    r"""Any eoctheory :class:`Activation` as a module: :math:`\phi` and :math:`\phi'` generated.

    The forward and backward passes are generated from the SymPy definition by
    :func:`eoctheory.nets.torch_kernels.torch_function`: a user's activation trains with no
    new code, with gradient :math:`\phi'` of :func:`~eoctheory.nets.codegen.derivative_expr`
    (exactly 0 on flat parts and at their end points; no ``NaN`` from an unselected
    branch). Parameter values are plain float attributes (``mod.tau``), so a module works
    in any dtype and device; :meth:`to_activation` gives the symbolic activation with the
    current values, which the theory (``eoc_point``, ``variance_map``, ...) takes, and
    :meth:`eoc` its Edge-of-Chaos initialisation.

    Parameters
    ----------
    activation : Activation or str
        A catalogue name or an :class:`~eoctheory.engine.activations.Activation` (custom
        expressions included).
    **params : float
        Parameter values (checked against the parameters' ranges).

    Examples
    --------
    >>> from eoctheory import Activation
    >>> ramp = Activation.from_string("Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))")
    >>> mod = SymbolicActivation(ramp)
    >>> x = torch.tensor([0.0, 0.5, 3.0], requires_grad=True)
    >>> mod(x).sum().backward()
    >>> x.grad
    tensor([0., 2., 0.])
    """

    def __init__(self, activation: Activation | str = "plain_relu", **params: float) -> None:
        super().__init__()
        act = get_activation(activation, **params)
        for n in act.param_names:
            if n.startswith("_") or n in _RESERVED or hasattr(nn.Module, n):
                raise ValueError(f"parameter name {n!r} clashes with an attribute of the "
                                 "torch module; rename the parameter")
        self.activation = act
        self._names = act.param_names
        for n, v in act.values.items():
            setattr(self, n, float(v))
        self._fn = torch_function(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x, *[getattr(self, n) for n in self._names])

    def to_activation(self) -> Activation:
        """The eoctheory :class:`Activation` with this module's parameter values (checked)."""
        vals = {n: getattr(self, n) for n in self._names}
        return self.activation.with_values(**vals) if vals else self.activation

    def eoc(self, q_star: float = 1.0) -> Init:
        r"""EoC initialisation at :math:`q^*` (:math:`\chi_1 = 1`, :math:`V(q^*) = q^*`)."""
        ini = getattr(self, "init", None)
        act = self.to_activation()
        if ini is not None and ini.q_star == q_star and ini.activation.expr == act.expr \
                and ini.activation.values == act.values:
            return ini
        return eoc_init(act, q_star=q_star)

    def copy(self) -> SymbolicActivation:
        """A new module of the same class with the same activation, values and ``init``."""
        new = type(self).__new__(type(self))
        SymbolicActivation.__init__(new, self.to_activation())
        if hasattr(self, "init"):
            new.init = self.init
        return new

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_fn", None)  # generated code is rebuilt, not pickled
        # an Activation caches lambdified functions once used: pickle fresh copies
        state["activation"] = dataclasses.replace(self.activation)
        if isinstance(state.get("init"), Init):
            ini = state["init"]
            state["init"] = dataclasses.replace(ini, activation=dataclasses.replace(
                ini.activation))
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._fn = torch_function(self.activation)

    def extra_repr(self) -> str:
        vals = ", ".join(f"{n}={getattr(self, n):.6g}" for n in self._names)
        if type(self) is not SymbolicActivation:
            return vals
        return self.activation.name + (f", {vals}" if vals else "")


class SparseActivation(SymbolicActivation):
    r"""Base class of the paper's sparsifying activations (eq. 7-10): thin named subclasses.

    Subclasses set ``name`` (the catalogue name) and ``has_m``; the kernels are the generated
    ones of :class:`SymbolicActivation` (``benchmarks/bench_kernels.py`` measures them
    against hand-written torch compositions). :meth:`from_sparsity` sets :math:`\tau` from a
    target sparsity (and :math:`m` from a target slope).
    """

    name: str = ""
    has_m: bool = False

    def __init__(self, tau: float = 0.0, m: float | None = None) -> None:
        vals = {"tau": _check_nonneg(tau, "tau")}
        if self.has_m:
            vals["m"] = _check_pos(1.0 if m is None else m, "m")
        elif m is not None:
            raise ValueError(f"m: {type(self).__name__} has no clipping height m")
        super().__init__(self.name, **vals)

    @classmethod
    def from_sparsity(cls, sparsity: float, *, q_star: float = 1.0,
                      target_slope: float | None = None, m: float | None = None
                      ) -> SparseActivation:
        r"""The module whose sparsity at variance :math:`q^*` is ``sparsity`` (eq. 12).

        :math:`\tau = \sqrt{q^*}\,\Phi^{-1}(s)` (ReLU_tau, CReLU) or
        :math:`\sqrt{q^*}\,\Phi^{-1}((1+s)/2)` (ST_tau, CST). For the clipped activations
        give ``m`` or ``target_slope`` (:math:`m` such that :math:`V'(q^*)` equals it on the
        EoC, Sec. 3.1; default 0.7).

        Raises
        ------
        ValueError
            Unreachable sparsity or slope, or ``m``/``target_slope`` for an unclipped one.
        """
        if not cls.has_m and (m is not None or target_slope is not None):
            bad = "m" if m is not None else "target_slope"
            raise ValueError(f"{bad}: {cls.__name__} has no clipping height m")
        return cls.from_init(resolve_setting(cls.name, sparsity=sparsity, m=m,
                                             target_slope=target_slope, q_star=q_star))

    @classmethod
    def from_init(cls, init: Init) -> SparseActivation:
        """The module with the parameters of an :class:`~eoctheory.nets.reference.Init`."""
        v = init.activation.values
        tau = float(v.get("tau", 0.0))
        mod = cls(tau, float(v["m"])) if cls.has_m else cls(tau)
        mod.init = init
        return mod


class ReLUTau(SparseActivation):
    r""":math:`\mathrm{ReLU}_\tau(x) = \max(0, x-\tau)` (eq. 7); ``tau = 0`` is plain ReLU."""

    name = "relu"

    def __init__(self, tau: float = 0.0) -> None:
        super().__init__(tau)


class STTau(SparseActivation):
    r""":math:`\mathrm{ST}_\tau` (eq. 8), soft thresholding; ``tau = 0`` is the identity."""

    name = "st"

    def __init__(self, tau: float = 0.0) -> None:
        super().__init__(tau)


class CReLU(SparseActivation):
    r""":math:`\mathrm{CReLU}_{\tau,m}` (eq. 9): ReLU_tau clipped at height :math:`m`."""

    name = "crelu"
    has_m = True

    def __init__(self, tau: float = 0.0, m: float = 1.0) -> None:
        super().__init__(tau, m)


class CST(SparseActivation):
    r""":math:`\mathrm{CST}_{\tau,m}` (eq. 10): ST_tau clipped at :math:`\pm m`."""

    name = "cst"
    has_m = True

    def __init__(self, tau: float = 0.0, m: float = 1.0) -> None:
        super().__init__(tau, m)


#: catalogue name -> module class ("plain_relu" is ReLU_0).
ACTIVATIONS: dict[str, type[SparseActivation]] = {
    "relu": ReLUTau, "st": STTau, "crelu": CReLU, "cst": CST, "plain_relu": ReLUTau}


def activation_module(activation: Activation | str | Init, **params: float
                      ) -> SymbolicActivation:
    r"""The torch module of any activation: a paper class for the paper's four, else generic.

    Parameters
    ----------
    activation : Activation, str or Init
        Catalogue name, :class:`Activation` (a custom expression included) or an
        :class:`~eoctheory.nets.reference.Init` (whose activation and parameters are used and
        which :meth:`SymbolicActivation.eoc` then returns).
    **params : float
        Parameter values.

    Examples
    --------
    >>> activation_module("crelu", tau=0.5, m=1.2)
    CReLU(tau=0.5, m=1.2)
    >>> activation_module("gelu")
    SymbolicActivation(gelu)
    """
    if isinstance(activation, Init):
        mod = activation_module(activation.activation, **params)
        mod.init = activation
        return mod
    act = get_activation(activation, **params)
    cls = ACTIVATIONS.get(act.name)
    if cls is not None and act.name != "plain_relu" and act.expr == CATALOGUE[act.name].expr:
        return cls(**act.values)
    return SymbolicActivation(act)


def make_activation(activation: Activation | str, *, sparsity: float | None = None,
                    target_slope: float | None = None, q_star: float = 1.0,
                    **params: float) -> SymbolicActivation:
    r"""The torch module of a setting: any activation, resolved by ``resolve_setting``.

    Parameters
    ----------
    activation : Activation or str
        A catalogue name or an :class:`Activation` (a custom expression included).
    sparsity : float, optional
        Target sparsity :math:`s` at :math:`q^*` (eq. 12); sets ``tau``.
    target_slope : float, optional
        :math:`V'(q^*)` on the EoC (sets ``m``; default 0.7 for activations with a clipping
        height when ``m`` is not given, :data:`eoctheory.theory.setting.DEFAULT_TARGET_SLOPE`).
    q_star : float, default 1
    **params
        ``tau``, ``m`` and other parameters explicitly.

    Returns
    -------
    SymbolicActivation
        With ``.init`` the resolved :class:`~eoctheory.theory.setting.Setting`.

    Examples
    --------
    >>> make_activation("relu", sparsity=0.5)
    ReLUTau(tau=0)
    """
    return activation_module(resolve_setting(activation, sparsity=sparsity,
                                             target_slope=target_slope, q_star=q_star,
                                             **params))


def _resolve_init(activation: Any, q_star: float) -> Init:
    if isinstance(activation, Init):
        return activation
    if isinstance(activation, SymbolicActivation):
        return activation.eoc(q_star)
    if isinstance(activation, (str, Activation)):
        return eoc_init(activation, q_star=q_star)
    if isinstance(activation, nn.ReLU):
        return eoc_init("relu", tau=0.0, q_star=q_star)
    raise ValueError("activation must be an Init, a SymbolicActivation, nn.ReLU, an "
                     f"eoctheory Activation or a name; got {type(activation).__name__}")


# ------------------------------------------------------------------------------------------
# Initialisation
# ------------------------------------------------------------------------------------------
def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The ``Linear``/``Conv1d``/``Conv2d`` layers of ``model`` in registration order."""
    return [mod for mod in model.modules() if isinstance(mod, _LAYERS)]


def _fan_in(layer: nn.Module) -> int:
    w = layer.weight
    return int(w.shape[1] * math.prod(w.shape[2:]))


@torch.no_grad()
def init_layers(layers: Iterable[nn.Module], sigma_w2: float, sigma_b2: float, *,
                first_layer: str = "preserve",
                generator: torch.Generator | None = None) -> None:
    r"""Draw :math:`W \sim N(0, \sigma_w^2/\text{fan\_in})`, :math:`b \sim N(0, \sigma_b^2)`.

    ``fan_in`` is :math:`N_{l-1}` (Linear) or :math:`C_{l-1}(2k+1)` per kernel dimension
    (Conv, eq. 2). With ``first_layer="preserve"`` the first layer gets
    :math:`N(0, 1/\text{fan\_in})` and zero bias, so that :math:`q^1 = \|x\|^2/N_0`
    (App. D). Layers are drawn in order, weight then bias, from ``generator``.
    """
    if first_layer not in _FIRST_LAYER:
        raise ValueError(f"first_layer must be one of {_FIRST_LAYER}, got {first_layer!r}")
    sw2 = _check_pos(sigma_w2, "sigma_w2")
    sb2 = _check_nonneg(sigma_b2, "sigma_b2")
    layers = list(layers)
    if not layers:
        raise ValueError("model: no Linear/Conv1d/Conv2d layer to initialise")
    for i, layer in enumerate(layers):
        if not isinstance(layer, _LAYERS):
            raise ValueError(f"layers: {type(layer).__name__} is not Linear/Conv1d/Conv2d")
        preserve = i == 0 and first_layer == "preserve"
        std_w = math.sqrt((1.0 if preserve else sw2) / _fan_in(layer))
        layer.weight.normal_(0.0, std_w, generator=generator)
        if layer.bias is not None:
            if preserve or sb2 == 0:
                layer.bias.zero_()
            else:
                layer.bias.normal_(0.0, math.sqrt(sb2), generator=generator)


def eoc_init_(model: nn.Module, activation: Any, *, q_star: float = 1.0,
              first_layer: str = "preserve", sparsity: float | None = None,
              target_slope: float | None = None,
              generator: torch.Generator | None = None, **params: float) -> Init:
    r"""Initialise ``model`` in place on the Edge of Chaos (App. A), like ``torch.nn.init``.

    :math:`\sigma_w^2` makes :math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}Z)^2] = 1`
    (eq. 11) and :math:`\sigma_b^2 = q^* - \sigma_w^2\,\mathbb E[\phi(\sqrt{q^*}Z)^2]`, so that
    :math:`V(q^*) = q^*` (eq. 3). Every ``Linear``/``Conv1d``/``Conv2d`` layer of ``model``
    (registration order) gets :math:`W \sim N(0, \sigma_w^2/\text{fan\_in})`,
    :math:`b \sim N(0, \sigma_b^2)`; see :func:`init_layers` for ``first_layer``.

    Parameters
    ----------
    model : nn.Module
    activation : SymbolicActivation, nn.ReLU, Init, Activation or str
        The activation the model uses (a name takes ``sparsity``, ``target_slope`` and
        ``**params`` to set its parameters).
    q_star : float, default 1
        Fixed-point variance :math:`q^*`.
    first_layer : {"preserve", "standard"}, default "preserve"
        The paper's experiments preserve the input variance in layer 1 (App. D).
    generator : torch.Generator, optional

    Returns
    -------
    Init
        :math:`(\sigma_w^2, \sigma_b^2)`, :math:`V'(q^*)`, :math:`V''(q^*)`, sparsity, ...
    """
    q = _check_pos(q_star, "q_star")
    if isinstance(activation, str) and (sparsity is not None or target_slope is not None
                                        or params):
        ini = make_activation(activation, sparsity=sparsity, target_slope=target_slope,
                              q_star=q, **params).eoc(q)
    elif sparsity is not None or target_slope is not None or params:
        raise ValueError("sparsity/target_slope/params are only taken with an activation name")
    else:
        ini = _resolve_init(activation, q)
    init_layers(weight_layers(model), ini.sigma_w2, ini.sigma_b2, first_layer=first_layer,
                generator=generator)
    return ini


# ------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------
def _act_module(activation: Any) -> nn.Module:
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return make_activation(activation)
    if isinstance(activation, (str, Activation, Init)):
        return activation_module(activation)
    raise ValueError("activation must be an nn.Module, an Init, an eoctheory Activation or a "
                     f"name; got {type(activation).__name__}")


def _copy_act(act: nn.Module) -> nn.Module:
    if isinstance(act, SymbolicActivation):
        return act.copy()
    return type(act)() if isinstance(act, nn.ReLU) else act


def dnn(in_features: int, width: int = 300, depth: int = 100, n_classes: int = 10,
        activation: Any = "plain_relu", *, flatten: bool = True, bias: bool = True
        ) -> nn.Sequential:
    r"""The paper's fully connected network (Sec. 4): ``depth`` hidden layers and a readout.

    :math:`h^1 = W^1 x + b^1`, :math:`h^l = W^l\phi(h^{l-1}) + b^l` for
    :math:`l = 2..L` (``L = depth``, width :math:`N_l` = ``width``), logits
    :math:`W^{L+1}\phi(h^L) + b^{L+1}` (eq. 1). A plain :class:`torch.nn.Sequential`
    (``Flatten``, then ``Linear``, activation, ..., ``Linear``); call :func:`eoc_init_`
    on it. ``activation`` is a module (copied per layer), a catalogue name, an
    :class:`~eoctheory.engine.activations.Activation` (custom expressions included) or an
    :class:`~eoctheory.nets.reference.Init`.

    Examples
    --------
    >>> model = dnn(784, width=300, depth=100, activation=CReLU(1.0, 1.2))
    >>> len(weight_layers(model))
    101
    >>> from eoctheory import Activation
    >>> ramp = Activation.from_string("Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))")
    >>> dnn(10, width=8, depth=2, activation=ramp)[2]
    SymbolicActivation(custom)
    """
    in_features = _check_int(in_features, "in_features")
    width = _check_int(width, "width")
    depth = _check_int(depth, "depth")
    n_classes = _check_int(n_classes, "n_classes")
    act = _act_module(activation)
    mods: list[nn.Module] = [nn.Flatten()] if flatten else []
    n = in_features
    for _ in range(depth):
        mods += [nn.Linear(n, width, bias=bias), _copy_act(act)]
        n = width
    mods.append(nn.Linear(n, n_classes, bias=bias))
    return nn.Sequential(*mods)


def cnn(in_channels: int, channels: int = 300, depth: int = 50, n_classes: int = 10,
        activation: Any = "plain_relu", *, kernel_size: int = 3, dim: int = 2,
        padding_mode: str = "circular") -> nn.Sequential:
    r"""The paper's CNN (Sec. 4, eq. 2): ``depth`` conv layers, global pooling, a readout.

    :math:`h^l_i(a) = \sum_j\sum_b W^l_{ij}(b)\,\phi(h^{l-1}_j(a+b)) + b^l_i` with kernel
    ``kernel_size`` = :math:`2k+1` in each of ``dim`` (1 or 2) spatial dimensions, stride 1,
    "same" padding (circular by default, as in the theory, so every position has the same
    variance map), then ``AdaptiveAvgPool`` + ``Flatten`` + ``Linear(channels, n_classes)``.

    Examples
    --------
    >>> m = cnn(3, channels=8, depth=4, activation=CST(0.5, 1.0))
    >>> m(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 10])
    """
    in_channels = _check_int(in_channels, "in_channels")
    channels = _check_int(channels, "channels")
    depth = _check_int(depth, "depth")
    n_classes = _check_int(n_classes, "n_classes")
    kernel_size = _check_int(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (2k+1), got {kernel_size}")
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2, got {dim!r}")
    if padding_mode not in ("zeros", "circular", "reflect", "replicate"):
        raise ValueError(f"padding_mode must be zeros/circular/reflect/replicate, "
                         f"got {padding_mode!r}")
    Conv = nn.Conv1d if dim == 1 else nn.Conv2d
    Pool = nn.AdaptiveAvgPool1d if dim == 1 else nn.AdaptiveAvgPool2d
    act = _act_module(activation)
    mods: list[nn.Module] = []
    c = in_channels
    for _ in range(depth):
        mods += [Conv(c, channels, kernel_size, padding=kernel_size // 2,
                      padding_mode=padding_mode), _copy_act(act)]
        c = channels
    mods += [Pool(1), nn.Flatten(), nn.Linear(channels, n_classes)]
    return nn.Sequential(*mods)


def from_reference(net: Network, *, readout: bool = False) -> nn.Sequential:
    r"""A torch copy of a NumPy reference :class:`~eoctheory.nets.reference.Network`.

    Same weights, biases, activation and dtype, so the per-layer statistics agree to
    round-off. A DNN (``kernel_size = 1``) becomes ``Linear``/activation pairs; a 1-D CNN
    becomes ``Conv1d`` with circular padding (inputs channels-first, ``(batch, N_0,
    positions)``, the transpose of the reference's channels-last layout). The reference's
    last layer :math:`h^L` is linear, so the model ends with ``Linear``/``Conv1d``
    (``readout=False``) -- or with the activation when ``readout=True`` (then every
    :math:`\phi(h^l)` is a module output).
    """
    act = activation_module(net.activation)
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    K = net.kernel_size
    mods: list[nn.Module] = []
    for l in range(net.depth):
        n_in, n_out = net.widths[l], net.widths[l + 1]
        W = torch.from_numpy(np.ascontiguousarray(net.weights[l])).to(dtype)
        if K == 1:
            layer = nn.Linear(n_in, n_out, dtype=dtype)
            w = W.T
        else:  # row (b+k) N_{l-1} + j, column i  ->  weight[i, j, b+k]
            layer = nn.Conv1d(n_in, n_out, K, padding=K // 2, padding_mode="circular",
                              dtype=dtype)
            w = W.reshape(K, n_in, n_out).permute(2, 1, 0)
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(torch.from_numpy(np.asarray(net.biases[l])).to(dtype))
        mods.append(layer)
        if l < net.depth - 1 or readout:
            mods.append(_copy_act(act))
    return nn.Sequential(*mods)


# ------------------------------------------------------------------------------------------
# Monitors (hooks)
# ------------------------------------------------------------------------------------------
class _Monitor:
    def __init__(self) -> None:
        self._handles: list[Any] = []

    def remove(self) -> None:
        """Remove every hook this monitor registered."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class SparsityMonitor(_Monitor):
    r"""Forward hooks that count zeros in every activation's output, per layer.

    The sparsity of layer :math:`l` is the fraction of zeros in :math:`\phi(h^l)` over
    everything seen since the last :meth:`reset` (the empirical eq. 12). Hooks are added to
    every :class:`SymbolicActivation` and ``nn.ReLU`` of ``model`` (or to ``modules``).
    While ``enabled`` is False the hooks return at once. Counting is done with
    ``count_nonzero`` on the hook's output, no copies are kept.

    Examples
    --------
    >>> model = dnn(10, width=20, depth=3, activation=ReLUTau(0.5))
    >>> with SparsityMonitor(model) as mon:
    ...     _ = model(torch.randn(8, 10))
    ...     mon.sparsity().shape
    (3,)
    """

    def __init__(self, model: nn.Module, modules: Sequence[nn.Module] | None = None) -> None:
        super().__init__()
        mods = list(modules) if modules is not None else [
            m for m in model.modules() if isinstance(m, (SymbolicActivation, nn.ReLU))]
        if not mods:
            raise ValueError("model: no activation module to monitor")
        self.modules = mods
        self.enabled = True
        self._zeros = [0] * len(mods)
        self._total = [0] * len(mods)
        for i, mod in enumerate(mods):
            self._handles.append(mod.register_forward_hook(self._hook(i)))

    def _hook(self, i: int):
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if self.enabled:
                n = output.numel()
                self._zeros[i] += n - int(torch.count_nonzero(output.detach()))
                self._total[i] += n
        return hook

    def reset(self) -> None:
        """Forget the counts."""
        self._zeros = [0] * len(self.modules)
        self._total = [0] * len(self.modules)

    def sparsity(self) -> np.ndarray:
        """Per-layer fraction of zeros, shape ``(L,)`` (NaN for a layer not yet run)."""
        z = np.asarray(self._zeros, float)
        t = np.asarray(self._total, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return z / t

    def mean(self) -> float:
        """Fraction of zeros over all layers together (the paper's 'activation sparsity')."""
        t = sum(self._total)
        return float(sum(self._zeros) / t) if t else float("nan")


class GradientMonitor(_Monitor):
    r"""Per-layer gradient norms after each backward pass (App. A; Figure 5).

    Forward hooks on every weight layer (``Linear``/``Conv``) attach a tensor hook to its
    output :math:`h^l`, recording :math:`\|\delta^l\| = \|\partial\mathcal L/\partial h^l\|`
    (Frobenius over the batch) during backward; :meth:`step` then also reads
    :math:`\|\partial\mathcal L/\partial W^l\|` from ``weight.grad`` and appends one row to
    :attr:`history`. By backprop, :math:`\mathbb E\|\delta^l\|^2` changes by
    :math:`\chi_1` per layer (times :math:`N_{l+1}/N_l`): exploding norms towards the
    input flag a failed initialisation.

    Examples
    --------
    >>> model = dnn(10, width=20, depth=3, activation=CReLU(0.3, 1.0))
    >>> mon = GradientMonitor(model)
    >>> model(torch.randn(8, 10)).square().sum().backward()
    >>> row = mon.step()
    >>> sorted(row), len(row["weight"])
    (['delta', 'weight'], 4)
    >>> mon.remove()
    """

    def __init__(self, model: nn.Module, layers: Sequence[nn.Module] | None = None) -> None:
        super().__init__()
        self.layers = list(layers) if layers is not None else weight_layers(model)
        if not self.layers:
            raise ValueError("model: no Linear/Conv layer to monitor")
        self.enabled = True
        self._delta: list[float] = [float("nan")] * len(self.layers)
        self.history: list[dict[str, list[float]]] = []
        for i, layer in enumerate(self.layers):
            self._handles.append(layer.register_forward_hook(self._hook(i)))

    def _hook(self, i: int):
        def grad_hook(g: torch.Tensor) -> None:
            self._delta[i] = float(torch.linalg.vector_norm(g.detach()))

        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            if self.enabled and output.requires_grad:
                output.register_hook(grad_hook)
        return hook

    def step(self) -> dict[str, list[float]]:
        r"""Record this step: ``{"weight": [\|dL/dW^l\|], "delta": [\|dL/dh^l\|]}``."""
        w = [float(torch.linalg.vector_norm(layer.weight.grad)) if layer.weight.grad is not None
             else float("nan") for layer in self.layers]
        row = {"weight": w, "delta": list(self._delta)}
        self.history.append(row)
        self._delta = [float("nan")] * len(self.layers)
        return row

    def array(self, key: str = "weight") -> np.ndarray:
        """History as an array ``(steps, layers)``; ``key`` is "weight" or "delta"."""
        if key not in ("weight", "delta"):
            raise ValueError(f"key must be 'weight' or 'delta', got {key!r}")
        return np.array([row[key] for row in self.history], dtype=float).reshape(
            len(self.history), len(self.layers))


@dataclass
class LayerStats:
    r"""Per-layer statistics of one forward pass (what the reference network records).

    ``q[l, i]`` = :math:`\|h^l_i\|^2/N_l` of input ``i``; ``sparsity[l]`` the fraction of
    zeros in :math:`\phi(h^l)`.
    """

    q: np.ndarray
    sparsity: np.ndarray


@torch.no_grad()
def layer_stats(model: nn.Sequential, x: torch.Tensor, activation: nn.Module | None = None
                ) -> LayerStats:
    r"""Run ``model`` on ``x`` recording :math:`q^l` and the sparsity of :math:`\phi(h^l)`.

    For every weight layer :math:`l` (a readout layer included) the output :math:`h^l` gives
    :math:`q^l`; the sparsity of :math:`\phi(h^l)` uses the following activation module,
    or ``activation`` applied to :math:`h^l` for the last layer of a model without one
    (e.g. :func:`from_reference` with ``readout=False``).
    """
    hs: list[torch.Tensor] = []
    handles = [layer.register_forward_hook(lambda m, i, o: hs.append(o))
               for layer in weight_layers(model)]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    q, sp = [], []
    act = activation
    if act is None:
        acts = [m for m in model.modules() if isinstance(m, (SymbolicActivation, nn.ReLU))]
        act = acts[0] if acts else None
    for h in hs:
        B = h.shape[0]
        flat = h.reshape(B, -1)
        q.append((flat.double().square().sum(1) / flat.shape[1]).numpy())
        if act is not None:
            a = act(h)
            sp.append(1.0 - float(torch.count_nonzero(a)) / a.numel())
        else:
            sp.append(float("nan"))
    return LayerStats(np.array(q), np.array(sp))

