r"""Smooth clipped activations against the piecewise-linear ones (the paper's future work).

The paper closes by asking whether smooth variants of :math:`\mathrm{CReLU}_{\tau,m}` and
:math:`\mathrm{CST}_{\tau,m}` have preferable properties, "specifically through controlling
higher order moments of the spectrum of the input-output Jacobian" (Sec. 5, App. F). The
catalogue's :math:`\mathrm{SCReLU}_{\tau,m,\beta}` and :math:`\mathrm{SCST}_{\tau,m,\beta}`
(:func:`eoctheory.engine.activations.get_activation`, ``"screlu"``, ``"scst"``) keep the exact
zeros on :math:`x \le \tau` (:math:`|x| \le \tau`) and replace the clipping corner by a
softplus of sharpness :math:`\beta` (the corner at :math:`\tau + m` is rounded over a width
:math:`m/\beta`); :math:`\beta \to \infty` recovers CReLU and CST.

Every variant is compared at the same sparsity :math:`s` (the same :math:`\tau`: the zero
set is the same) and the same slope :math:`V'(q^*)` on the Edge of Chaos (:math:`m` solved
for each variant by :func:`~eoctheory.theory.eoc.m_for_slope`), through

.. math::

    \mu_k = \sigma_w^{2k}\,\mathbb{E}[\phi'(\sqrt{q^*}Z)^{2k}],\qquad
    \frac{\sigma^2_{JJ^T}}{L} = \frac{\mu_2}{\mu_1^2} - 1 - s_1

(App. F, eq. 30; :math:`\mu_1 = \chi_1 = 1` on the EoC, :math:`s_1 = -1` for Gaussian and 0
for orthogonal weights), the curvature :math:`V''(q^*)` and the other fixed points of
:math:`V` (the paper's first failure mode, Sec. 3.1). The moments and the spectral variance
come from :func:`eoctheory.theory.correlation.jacobian_moments` and
:func:`~eoctheory.theory.correlation.spectral_variance`, the fixed points from
:func:`eoctheory.theory.stability.fixed_points`.

Examples
--------
>>> from eoctheory.theory.smooth import compare_smooth
>>> rows = compare_smooth("crelu", [4.0], sparsity=0.85, target_slope=0.7)
>>> [r.activation for r in rows], [round(r.variance_slope, 9) for r in rows]
(['crelu', 'screlu'], [0.7, 0.7])
>>> rows[1].spectral_variance > rows[0].spectral_variance  # smoothing widens the spectrum
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from eoctheory.engine.activations import get_activation
from eoctheory.theory.correlation import jacobian_moments, spectral_variance
from eoctheory.theory.setting import Setting, resolve_setting
from eoctheory.theory.stability import fixed_points

__all__ = ["SMOOTH_VARIANTS", "JacobianComparison", "smooth_setting", "compare_smooth"]

#: Piecewise-linear catalogue activation -> its smooth variant.
SMOOTH_VARIANTS: dict[str, str] = {"crelu": "screlu", "cst": "scst"}


@dataclass(frozen=True)
class JacobianComparison:
    r"""One activation at a given sparsity and EoC slope :math:`V'(q^*)`.

    Attributes
    ----------
    activation : str
        Catalogue name (``crelu``, ``cst``, ``screlu``, ``scst``).
    beta : float
        Smoothness :math:`\beta` (``math.inf`` for the piecewise-linear activation).
    sparsity, q_star, tau, m, sigma_w2, sigma_b2 : float
        The resolved EoC setting (:math:`m` solved for ``variance_slope``).
    variance_slope, variance_curvature : float
        :math:`V'(q^*)` (the target) and :math:`V''(q^*)`.
    mu1, mu2 : float
        :math:`\mu_1 = \chi_1` and :math:`\mu_2` (App. F).
    spectral_variance : float
        Per layer, :math:`\mu_2/\mu_1^2 - 1 - s_1` (the spectral variance of
        :math:`JJ^T` at depth L is L times this).
    other_fixed_points : tuple of (q, kind)
        The fixed points of :math:`V` other than :math:`q^*` on :math:`(0, Q]`.
    """

    activation: str
    beta: float
    sparsity: float
    q_star: float
    tau: float
    m: float
    sigma_w2: float
    sigma_b2: float
    variance_slope: float
    variance_curvature: float
    mu1: float
    mu2: float
    spectral_variance: float
    other_fixed_points: tuple[tuple[float, str], ...]

    @property
    def moment_ratio(self) -> float:
        r""":math:`\mu_2/\mu_1^2`."""
        return self.mu2 / self.mu1**2

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``beta`` is None for the piecewise-linear activation)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["beta"] = None if math.isinf(self.beta) else self.beta
        out["moment_ratio"] = self.moment_ratio
        out["other_fixed_points"] = [list(p) for p in self.other_fixed_points]
        return out


def _check_base(base: str) -> str:
    key = str(base).strip().lower()
    if key not in SMOOTH_VARIANTS:
        raise ValueError(f"base must be one of {sorted(SMOOTH_VARIANTS)} (the piecewise-linear "
                         f"activations with a smooth variant), got {base!r}")
    return key


def smooth_setting(base: str, beta: float, *, sparsity: float, target_slope: float,
                   q_star: float = 1.0) -> Setting:
    r"""The EoC setting of the smooth variant of ``base`` at sparsity and slope.

    Parameters
    ----------
    base : {"crelu", "cst"}
        The piecewise-linear activation whose smooth variant is meant.
    beta : float
        Sharpness :math:`\beta \in [10^{-3}, 10^3]` of the corner (rounded over a width
        :math:`m/\beta`); ``math.inf`` gives ``base`` itself.
    sparsity : float
        Target sparsity :math:`s \in (0, 1)` at :math:`q^*` (sets :math:`\tau`, eq. 12).
    target_slope : float
        :math:`V'(q^*)` on the Edge of Chaos (sets :math:`m`, Sec. 3.1).
    q_star : float, default 1

    Raises
    ------
    ValueError
        An unknown ``base``, ``beta`` outside :math:`[10^{-3}, 10^3]` (and not ``inf``), or a
        sparsity or slope that cannot be reached.
    """
    key = _check_base(base)
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a number in [1e-3, 1e3] or inf (got {beta!r})") from None
    if b == math.inf:
        return resolve_setting(key, sparsity=sparsity, target_slope=target_slope,
                               q_star=q_star)
    get_activation(SMOOTH_VARIANTS[key]).resolve({"beta": b})  # one-line range error
    return resolve_setting(SMOOTH_VARIANTS[key], sparsity=sparsity, target_slope=target_slope,
                           q_star=q_star, beta=b)


def compare_smooth(base: str, betas: Any, *, sparsity: float, target_slope: float,
                   q_star: float = 1.0, weights: str = "gaussian", q_max: float | None = None,
                   verify: bool = False, skip_unreachable: bool = False
                   ) -> list[JacobianComparison]:
    r"""The piecewise activation and its smooth variants at equal :math:`s` and :math:`V'(q^*)`.

    Parameters
    ----------
    base : {"crelu", "cst"}
    betas : array_like
        Sharpness values :math:`\beta \in [10^{-3}, 10^3]`.
    sparsity, target_slope, q_star : float
        As in :func:`smooth_setting`.
    weights : {"gaussian", "orthogonal"}
        The weight law in :math:`s_1` (-1 and 0).
    q_max : float, optional
        Upper end of the fixed-point search (default of
        :func:`~eoctheory.theory.stability.fixed_points`).
    verify : bool, default False
        Polish and verify every fixed point in mpmath (slow: seconds per point).
    skip_unreachable : bool, default False
        Leave out a ``beta`` whose variant cannot reach ``target_slope`` at this sparsity
        (instead of raising).

    Returns
    -------
    list of JacobianComparison
        The piecewise activation first (``beta = inf``), then one row per ``beta``.

    Raises
    ------
    ValueError
        As :func:`smooth_setting`; ``weights`` not one of the two laws.
    """
    key = _check_base(base)
    bs = np.atleast_1d(np.asarray(betas, dtype=float)).ravel()
    rows = []
    for b in (math.inf, *bs.tolist()):
        try:
            st = smooth_setting(key, b, sparsity=sparsity, target_slope=target_slope,
                                q_star=q_star)
        except ValueError as exc:
            if skip_unreachable and "not attainable" in str(exc):
                continue
            raise
        params = st.params
        act = st.activation
        mu1, mu2 = jacobian_moments(act, st.sigma_w2, st.q_star, **params)
        sv = spectral_variance(act, 1, st.sigma_w2, st.q_star, weights=weights, **params)
        fps = fixed_points(act, st.sigma_w2, st.sigma_b2, q_max=q_max, verify=verify,
                           **params)
        others = tuple((float(p.q), p.kind) for p in fps
                       if abs(p.q - st.q_star) > 1e-6 * st.q_star)
        rows.append(JacobianComparison(
            act.name, b, st.sparsity, st.q_star, float(st.tau), float(st.m), st.sigma_w2,
            st.sigma_b2, st.variance_slope, st.variance_curvature, mu1, mu2, float(sv),
            others))
    return rows
