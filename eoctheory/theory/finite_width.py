r"""Finite-width theory: will a (width, depth) network initialised on the EoC train?

The paper's variance map (eq. 3) is the infinite-width limit. At width :math:`N` the
measured pre-activation variance :math:`q^l = \|h^l\|^2/N` of one input is a random walk
around :math:`q^*`. What breaks training is not the walk itself but what it changes: the
sparsity :math:`s(q^l)` and the backward factor :math:`\chi_1(q^l)` drift away from their
values at :math:`q^*`, and the first-to-last gradient ratio explodes (the paper's Sec. 3.1
and Figure 5) or vanishes. This module predicts the law of the walk, the probability that
:math:`s` or :math:`\chi_1` drifts within depth :math:`L`, and the law of the
first-to-last-layer gradient ratio; for a positively homogeneous activation (plain ReLU)
:math:`s` and :math:`\chi_1` do not depend on :math:`q`, so only the gradient spread counts,
and it grows like :math:`\exp(cL/N)` (Hanin 2018; tested against
:func:`~eoctheory.theory.finite_width_law.simulate_law`). :mod:`eoctheory.theory.recommend` turns the
prediction into advice (the most expressive clipping height :math:`m` that is safe at a
given width and depth, the smallest safe width);
:func:`~eoctheory.theory.finite_width_law.simulate_law` draws the networks exactly in law to
validate it.

The model (a Markov chain on the measured :math:`q^l`)
------------------------------------------------------
Given layer :math:`l`, :math:`h^{l+1}_i` are i.i.d. :math:`N(0, G_{l+1})` with
:math:`G_{l+1} = \sigma_w^2 A_l + \sigma_b^2`,
:math:`A_l = \frac1N\sum_i \phi(h^l_i)^2`; so
:math:`q^{l+1} = G_{l+1} X_{l+1}` with :math:`X_{l+1}\sim\chi^2_N/N` independent of the past.
Because :math:`h^l = \sqrt{G_l}\,Z` with a standard Gaussian vector :math:`Z` whose
direction is independent of its norm, :math:`h^l` given :math:`q^l` is uniform on the sphere
of radius :math:`\sqrt{N q^l}`: the measured :math:`q^l` is an exact Markov chain. On that
sphere, to first order in :math:`1/N` (the marginal density of a coordinate is
:math:`\varphi(u)(1 - \mathrm{He}_4(u)/(4N))`):

.. math::

    \mathbb{E}[A \mid q] &= \mu(q) - \frac{q^2 \mu''(q)}{N},\qquad
    \mathrm{Var}[A \mid q] = \frac{1}{N}\Big(\mathrm{Var}[\phi^2] -
        \tfrac12\,\mathrm{Cov}[\phi^2, Z^2]^2\Big),\\
    \mu(q) &= \mathbb{E}[\phi(\sqrt q Z)^2],\quad
    \mathrm{Var}[\phi^2] = \mathbb{E}[\phi(\sqrt q Z)^4] - \mu^2,\quad
    \mathrm{Cov}[\phi^2, Z^2] = 2q\mu'(q),

so :math:`\mathbb{E}[G_{l+1}\mid q^l] = V(q^l) - (q^l)^2 V''(q^l)/N`: a positive curvature
:math:`V''` pushes the finite-width walk *down* (Jensen), by :math:`q^{*2}V''(q^*)/N` per
layer. :math:`G` is taken Gamma with that mean and variance, and
:math:`\log q^{l+1} = \log G + \log X` Gaussian with the exact log-moments of the two
factors (:math:`\psi(k) - \log k + \log\mathbb{E}G` and :math:`\psi'(k)` for a Gamma of
shape :math:`k`). The transition kernel is computed on a grid in :math:`\log(q/q^*)`
(cell width :math:`\sqrt{2/N}/4`, a quarter of the smallest possible per-layer standard
deviation) by Gaussian cell masses; :math:`q^1 = q_\text{in}\chi^2_N/N` exactly (the
paper's variance-preserving first layer). The chain is followed on
:math:`[q^*/b, b\,q^*]` (``band`` :math:`b = 16`; mass beyond is kept in the end cells). The
*killed* chain drops, after every layer, the mass of the cells where the sparsity has
drifted, :math:`|s(q) - s(q^*)| > 0.1`, or :math:`\chi_1(q)/\chi_1(q^*)` has left
:math:`[1/2, 2]` (each cell weighted by the fraction of 8 points across it that are alive,
so the boundary moves continuously with the parameters); its lost mass is the drift
probability, the failure definition shared with :func:`eoctheory.nets.simulate`. The free
chain gives per-layer quantiles of :math:`q^l`.

Gradients
---------
With the output gradient :math:`\delta^L` independent of the network (as
:func:`eoctheory.nets.simulate` draws it) and the gradient-independence approximation,
:math:`R_l = \|\delta^l\|^2/\|\delta^{l+1}\|^2 = \frac{\sigma_w^2}{N}\sum_i
\phi'(h^l_i)^2\xi_i^2` with fresh :math:`\xi_i\sim N(0,1)`. Given :math:`q^l` (sphere again):

.. math::

    \mathbb{E}[R_l\mid q] = \chi_1(q) - \sigma_w^2\frac{q^2\nu''(q)}{N},\quad
    \mathrm{Var}[R_l\mid q] = \frac{\sigma_w^4}{N}\big(3\nu_4 - \nu^2 - 2 q^2 \nu'(q)^2\big),

:math:`\nu = \mathbb{E}[\phi'^2]`, :math:`\nu_4 = \mathbb{E}[\phi'^4]`, :math:`\chi_1(q) =
\sigma_w^2\nu(q)` evaluated at the *current* :math:`q^l`, not at :math:`q^*`. The log
gradient ratio :math:`S = \log(\|\delta^1\|^2/\|\delta^L\|^2) = \sum_{l=1}^{L-1}\log R_l`
is carried along the chain by its first two conditional moments per cell
(:math:`p_l, \mathbb{E}[S\,1_\text{cell}], \mathbb{E}[S^2 1_\text{cell}]`, three
matrix-vector products per layer); its law is the mixture over the final cell of Gaussians
with those moments. Even exactly on the EoC (:math:`\mathbb{E}R = 1`) the median ratio
*decreases* with depth, by :math:`\tfrac12\mathrm{Var}\log R` per layer: sparse activations
(few active units) have noisy :math:`R_l` and log-normally spread gradient norms.

Risk
----
``risk = 1 - P(no drift for l <= L and 1/g <= ||delta^1||/||delta^L|| <= g)``, ``g =
grad_limit`` (1e3): the probability, at initialisation, that what matters drifts along the
depth or that gradients explode or vanish. Calibrated on 520 training runs
(``results/outcomes``, :mod:`eoctheory.experiments.calibration`): ROC AUC 0.964 against
observed failure; at the default threshold 0.05 no setting that failed is "stable" and none
that learned is "unstable" (:func:`verdict_of`).

2-D CNNs (``arch="cnn2d"``)
---------------------------
In a 2-D CNN with :math:`C` channels (weights :math:`N(0, \sigma_w^2/(k^2C))`, circular
padding) the pre-activations of one position are i.i.d. over the :math:`C` channels given
the previous layer, with variance :math:`\sigma_w^2 \bar A_l + \sigma_b^2`, where
:math:`\bar A_l` is the mean of :math:`\phi^2` over channels *and* positions, so the
measured :math:`q^l` has the DNN's conditional mean. Its fluctuation is that of a mean over
:math:`C\,P_\text{eff}` independent units, where :math:`P_\text{eff} = P/\sum_d
c_d^2` counts the independent positions among :math:`P` (:math:`c_d` the correlation at
lag :math:`d`). On the EoC the spatial correlations rise towards 1 with depth (neighbours
0.5 at the input, 0.99 by layer 30 in ``simulate --arch cnn2d``), so :math:`P_\text{eff}
\to 1`: **the channels play the role of the width, N = C**, and the image size drops out.
Measured (``benchmarks/bench_cnn_finite_width.py``, ``results/cnn/finite_width.md``: depth
30, 16 x 16 images, 24 seeds, 32 and 64 channels, seven settings): the spread of
:math:`\log q^L` across seeds is 0.5-1.4 times the DNN chain's at :math:`N = C` (1.7 for
ST_tau at 32 channels, whose walk leaves the lognormal regime) and ten or more times the
spread at :math:`N = C\cdot HW`, which is ruled out. The measured fraction of failed seeds
never exceeds the predicted risk at :math:`N = C` by more than its standard error (0.33 vs
0.53, 0.83 vs 0.92, 0.29 vs 0.48, 0.54 vs 0.80, ...): N = C is right to cautious, more
cautious at 64 channels than at 32. The gradient ratio shrinks less with depth than at
:math:`N = C` (the backward signals of different positions are less correlated), so
``vanishing_probability`` is cautious too.

Examples
--------
>>> from eoctheory.theory import finite_width as fw
>>> p = fw.predict("crelu", sparsity=0.7, target_slope=0.7, width=300, depth=100)
>>> p.drift_probability < 1e-3
True
>>> bool(fw.predict("relu", sparsity=0.7, width=300, depth=100).risk > 0.5)
True
>>> bool(fw.predict("plain_relu", width=300, depth=100).risk < 1e-6)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import special as _sc

from eoctheory.engine import maps
from eoctheory.engine.checks import check_int
from eoctheory.engine.activations import Activation
from eoctheory.limits import check_resources
from eoctheory.theory.setting import resolve_arrays

__all__ = [
    "ARCHITECTURES",
    "CHI_DRIFT",
    "FiniteWidthPrediction",
    "GRAD_LIMIT",
    "LEVELS",
    "SPAN",
    "SPARSITY_DRIFT",
    "UNITS_NOTE",
    "check_arch",
    "check_band",
    "check_grad_limit",
    "check_summary",
    "estimate_predict",
    "fourth_moment",
    "predict",
    "predicted_risk",
    "slope_value_moment",
    "verdict_of",
]

#: Architectures the predictor covers, and what plays the width N in each (module notes).
ARCHITECTURES = {"dnn": "width N", "cnn2d": "channels C (N = C; the positions are "
                 "strongly correlated on the EoC, so the image size drops out)"}
#: default quantile levels reported
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Failure when :math:`\|\delta^1\|/\|\delta^L\|` leaves :math:`[1/g, g]` (both tails): the
#: gap in the measured training outcomes (``results/outcomes``) between the runs that keep
#: the first-to-last gradient ratio below 100 and those whose ratio exceeds 1e3 in the
#: first 15 SGD steps (the paper's Figure 5 failures).
GRAD_LIMIT = 1e3
#: Failure when the sparsity :math:`s(q^l)` at the walk's current variance moves more than
#: this from :math:`s(q^*)` (absolute).
SPARSITY_DRIFT = 0.1
#: Failure when :math:`\chi_1(q^l)/\chi_1(q^*)` leaves :math:`[1/c, c]`.
CHI_DRIFT = 2.0
#: ``check_summary`` notes networks in which fewer units than this pass gradient per layer
#: (the paper's second failure mode; ``results/second-mode``).
UNITS_NOTE = 40.0
#: The walk is followed on :math:`[q^*/b, b\,q^*]` (``band``); mass beyond stays in the end
#: cells (the drift criteria, not this range, decide failure).
SPAN = 16.0
_RES = 4.0           # cells per smallest per-layer standard deviation sqrt(2/N)
_MAX_CELLS = 480     # cap on cells inside the band (width > ~20000 is coarser)
_MIN_CELLS = 48
_ALIVE_POINTS = 8    # points per cell at which the drift criteria are evaluated


# ------------------------------------------------------------------------------------------
# E[phi^4]: closed form from the same piecewise engine, quadrature otherwise
# ------------------------------------------------------------------------------------------
def fourth_moment(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
    r""":math:`\mathbb{E}[\phi(\sqrt q Z)^4]`, for the variance of :math:`\phi^2` at width N.

    Piecewise-polynomial activations: exact closed form from the truncated-Gaussian
    moments of :mod:`eoctheory.engine.gaussian` (derived once, cached); others: the same
    Gauss-Legendre rule as :mod:`eoctheory.engine.maps`. Broadcasts over ``q`` and parameters.

    Examples
    --------
    >>> round(float(fourth_moment("identity", 2.0)), 12)      # 3 q^2
    12.0
    >>> round(float(fourth_moment("relu", 1.0, tau=0.0)), 12)  # 3/2
    1.5
    """
    return maps.gaussian_moment(activation, "phi4", lambda f, df: f**4, q, **params)


def slope_value_moment(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^2\phi(\sqrt q Z)^2]` (the weight-sharing correction).

    Examples
    --------
    >>> round(float(slope_value_moment("relu", 1.0, tau=0.0)), 12)   # E[Z^2; Z > 0]
    0.5
    """
    return maps.gaussian_moment(activation, "dphi2phi2", lambda f, df: df**2 * f**2, q,
                                **params)


# ------------------------------------------------------------------------------------------
# Per-state coefficients of the chain
# ------------------------------------------------------------------------------------------
def _log_gamma_moments(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""E[log Y], Var[log Y] for Y ~ Gamma with the given mean and variance."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.where(var > 0, mean * mean / np.where(var > 0, var, 1.0), np.inf)
        k = np.clip(k, 1e-3, 1e14)
        elog = np.log(mean) + _sc.digamma(k) - np.log(k)
        vlog = _sc.polygamma(1, k)
    return elog, vlog


def _coefficients(act: Activation, q: np.ndarray, params: dict, sw2: np.ndarray,
                  sb2: np.ndarray, N: float, grads: bool = True) -> tuple:
    r"""Per-state moments: E/Var of log q^{l+1} and of log R_l given q^l = q.

    ``q`` has shape (B, n); parameter, sigma arrays have shape (B, 1).
    """
    mu = maps.second_moment(act, q, **params)
    mu1 = maps.second_moment_derivative(act, q, 1, **params)
    mu2 = maps.second_moment_derivative(act, q, 2, **params)
    m4 = fourth_moment(act, q, **params)
    c = 2.0 * q * mu1
    vA = np.maximum(m4 - mu * mu - 0.5 * c * c, 0.0) / N
    mA = mu - q * q * mu2 / N
    mG = np.maximum(sw2 * mA + sb2, 1e-300)
    eG, vG = _log_gamma_moments(mG, sw2 * sw2 * vA)
    eX = _sc.digamma(N / 2.0) - math.log(N / 2.0)
    vX = float(_sc.polygamma(1, N / 2.0))
    out = [eG + eX, vG + vX]
    if grads:
        h = 1e-3
        nu = maps.slope_moment(act, q, **params)
        nup = maps.slope_moment(act, q * math.exp(h), **params)
        num = maps.slope_moment(act, q * math.exp(-h), **params)
        nu4 = maps.slope_moment4(act, q, **params)
        d1 = (nup - num) / (2 * h)              # q nu'(q)
        d2 = (nup - 2 * nu + num) / (h * h) - d1  # q^2 nu''(q)
        vR = sw2 * sw2 * np.maximum(3 * nu4 - nu * nu - 2 * d1 * d1, 0.0) / N
        eR, vRl = _log_gamma_moments(np.maximum(sw2 * (nu - d2 / N), 1e-300), vR)
        # weight sharing (see simulate_law): E[R_l] gains the factor 1 + eps theta_{l+1},
        # theta = <delta, h>^2/(G |delta|^2) - 1 (0 at the output), see _run_chain
        nu_s = np.maximum(nu, 1e-300)
        km1 = 2 * d1 / nu_s                                  # E[phi'^2 Z^2]/E[phi'^2] - 1
        eps = sw2 * slope_value_moment(act, q, **params) / (mG * nu_s * N)
        gam = q * sw2 * mu1 / mG                             # q V'(q) / V(q)
        ratio = gam * gam / (sw2 * nu_s)                     # gamma^2 / chi_1
        out += [eR, vRl, km1, eps, ratio]
    return tuple(out)


# ------------------------------------------------------------------------------------------
# The chain
# ------------------------------------------------------------------------------------------
def _grid(N: float, band: float, wide: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Cell edges and centres in x = log(q/q*) on [-log b, log b]; (edges, centres, 0).

    ``wide`` is accepted for compatibility and ignored: one grid serves the killed and the
    free chain."""
    lb = math.log(band)
    h = math.sqrt(2.0 / N) / _RES
    nb = int(min(max(math.ceil(2 * lb / h), _MIN_CELLS), _MAX_CELLS))
    edges = np.linspace(-lb, lb, nb + 1)
    return edges, 0.5 * (edges[1:] + edges[:-1]), 0


def _alive(act: Activation, qg: np.ndarray, q_star: np.ndarray, params: dict,
           sparsity_drift: float, chi_drift: float) -> np.ndarray:
    r"""Points where :math:`|s(q) - s(q^*)| \le` ``sparsity_drift`` and
    :math:`\chi_1(q)/\chi_1(q^*) \in [1/c, c]` (shape of ``qg``, float 0/1).

    Positively homogeneous activations (plain ReLU, identity, ReLU_0) have constant
    :math:`s` and :math:`\chi_1`: no cell is dead, the scale of q does not matter."""
    s = maps.sparsity(act, qg, **params)
    s0 = maps.sparsity(act, q_star, **params)
    nu = maps.slope_moment(act, qg, **params)
    nu0 = maps.slope_moment(act, q_star, **params)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = nu / nu0
    ok = (np.abs(s - s0) <= sparsity_drift) & (r <= chi_drift) & (r >= 1.0 / chi_drift)
    return ok.astype(float)


def _kernel(mean: np.ndarray, var: np.ndarray, edges: np.ndarray, clamp: bool) -> np.ndarray:
    """K[b, i, j] = P(x' in cell j | x = centre i): Gaussian cell masses (B, n, n)."""
    sd = np.sqrt(np.maximum(var, 1e-300))
    z = (edges[None, None, :] - mean[:, :, None]) / sd[:, :, None]
    F = _sc.ndtr(z)
    K = np.diff(F, axis=2)
    if clamp:  # mass beyond the ends stays in the end cells
        K[:, :, 0] += F[:, :, 0]
        K[:, :, -1] += 1.0 - F[:, :, -1]
    return K


def _initial(q_in: np.ndarray, q_star: np.ndarray, edges: np.ndarray, N: float,
             clamp: bool) -> np.ndarray:
    r"""Cell masses of q^1 = q_in chi^2_N / N (variance-preserving first layer)."""
    a = N / 2.0
    ratio = (np.asarray(q_star, dtype=float) / np.asarray(q_in, dtype=float)).reshape(-1, 1)
    F = _sc.gammainc(a, a * ratio * np.exp(edges)[None, :])
    p = np.diff(F, axis=1)
    if clamp:
        p[:, 0] += F[:, 0]
        p[:, -1] += 1.0 - F[:, -1]
    return p


def _run_chain(K: np.ndarray, p0: np.ndarray, grad: tuple | None, L: int,
               keep: bool, alive: np.ndarray | None = None) -> tuple:
    """Propagate (p, M1, M2) for L layers; returns final stack and per-layer masses.

    ``grad`` = (E log R, Var log R, kappa - 1, eps, gamma^2/chi) per state. Weight
    sharing: with theta_n after n backward steps from the output (theta_0 = 0),

        theta_{n+1} = ((kappa - 1) + (gamma^2/chi - eps) theta_n) / (1 + eps theta_n),

    the mean of log R_l is shifted by log(1 + eps theta_{L-1-l}) (coefficients taken at
    the current state for the whole path above it).
    """
    B, n = p0.shape
    st = np.zeros((B, 3, n))
    st[:, 0] = p0 if alive is None else p0 * alive
    hist = np.empty((L, B, n)) if keep else None
    surv = np.empty((L, B))
    surv[0] = st[:, 0].sum(axis=1)
    if keep:
        hist[0] = st[:, 0]
    if grad is not None:
        eR, b, km1, eps, r = grad
        theta = np.zeros_like(eR)
        shifts = [None] * L
        for j in range(L):
            shifts[j] = np.log(np.maximum(1.0 + eps * theta, 1e-3))
            theta = np.maximum((km1 + (r - eps) * theta) / np.maximum(1.0 + eps * theta, 1e-3),
                               -1.0)
    for l in range(1, L):
        if grad is not None:
            a = eR + shifts[L - 1 - l]
            p, m1 = st[:, 0], st[:, 1]
            st[:, 2] += 2 * a * m1 + (a * a + b) * p
            st[:, 1] += a * p
        st = np.matmul(st, K)
        if alive is not None:
            st *= alive[:, None, :]
        surv[l] = st[:, 0].sum(axis=1)
        if keep:
            hist[l] = st[:, 0]
    return st, surv, hist


def _mixture(st: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights, means, sds of the Gaussian mixture for S from the (p, M1, M2) stack."""
    p, m1, m2 = st[:, 0], st[:, 1], st[:, 2]
    ok = p > 1e-300
    with np.errstate(all="ignore"):
        mean = np.where(ok, m1 / np.where(ok, p, 1.0), 0.0)
        var = np.where(ok, m2 / np.where(ok, p, 1.0) - mean * mean, 0.0)
    sd = np.sqrt(np.maximum(var, 1e-12))
    return np.maximum(p, 0.0), mean, sd


def _mixture_cdf(w: np.ndarray, mean: np.ndarray, sd: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Unnormalised CDF sum_i w_i Phi((s - mean_i)/sd_i), s of shape (B, k)."""
    z = (s[:, None, :] - mean[:, :, None]) / sd[:, :, None]
    return np.einsum("bi,bik->bk", w, _sc.ndtr(z))


def _mixture_quantiles(w, mean, sd, levels) -> np.ndarray:
    tot = w.sum(axis=1, keepdims=True)
    lo = np.min(np.where(w > 0, mean - 9 * sd, np.inf), axis=1)
    hi = np.max(np.where(w > 0, mean + 9 * sd, -np.inf), axis=1)
    s = lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, 801)[None, :]
    F = _mixture_cdf(w, mean, sd, s) / np.where(tot > 0, tot, 1.0)
    out = np.empty((len(w), len(levels)))
    for b in range(len(w)):
        f = np.maximum.accumulate(F[b])
        out[b] = np.interp(levels, f, s[b])
    return out


# ------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------


def check_arch(arch: Any) -> str:
    """``arch`` if it is one of :data:`ARCHITECTURES`, else ValueError naming them."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)} (got {arch!r})")
    return arch


def check_band(band: Any) -> float:
    """The failure band factor :math:`b` as a float, if finite and > 1 (else ValueError)."""
    b = float(band)
    if not (b > 1 and math.isfinite(b)):
        raise ValueError(f"band must be a finite factor > 1 (got {band!r})")
    return b


def check_grad_limit(g: Any) -> float:
    """The gradient-ratio limit as a float, if > 0 (else ValueError)."""
    g = float(g)
    if not g > 0:
        raise ValueError(f"grad_limit must be > 0 (got {g!r})")
    return g


def _resolve(activation, sparsity, target_slope, q_star, sigma_w2, sigma_b2, params):
    """Activation, shape and flat (q*, sigma_w2, sigma_b2, parameter) arrays of the settings."""
    g = resolve_arrays(activation, sparsity=sparsity, target_slope=target_slope,
                       q_star=q_star, sigma_w2=sigma_w2, sigma_b2=sigma_b2, **params)
    flat = lambda a: np.ascontiguousarray(a, dtype=float).reshape(-1)  # noqa: E731
    return (g.activation, g.shape, flat(g.q_star), flat(g.sigma_w2), flat(g.sigma_b2),
            {k: flat(v) for k, v in g.params.items()})


# ------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------
@dataclass
class FiniteWidthPrediction:
    r"""Finite-width prediction for one setting (see the module docstring).

    Attributes
    ----------
    risk : float
        :math:`1 - P(\text{no drift and } 1/g \le \|\delta^1\|/\|\delta^L\| \le g)`,
        :math:`g` = ``grad_limit``.
    drift_probability : float
        :math:`P(|s(q^l) - s(q^*)| >` ``sparsity_drift`` or :math:`\chi_1(q^l)/\chi_1(q^*)
        \notin [1/c, c]` for some :math:`l \le L)`: what matters drifted along depth.
    explosion_probability, vanishing_probability : float
        No drift, and :math:`\|\delta^1\|/\|\delta^L\| > g` (resp. :math:`< 1/g`).
    drift_by_layer : ndarray (L,)
        :math:`P(\text{drift by layer } l)`.
    levels : tuple of float
        Quantile levels.
    q_quantiles : ndarray (L, len(levels))
        Per-layer quantiles of :math:`q^l` (free chain on :math:`[q^*/b^2, b^2q^*]`, ``band``
        :math:`b`; 0 or inf beyond).
    gradient_ratio_quantiles : ndarray (len(levels),)
        Quantiles of :math:`\|\delta^1\|/\|\delta^L\|` (free chain).
    log_ratio_mean, log_ratio_std : float
        Mean and sd of :math:`\log(\|\delta^1\|/\|\delta^L\|)` (free chain).
    config : dict
        Activation, parameters, :math:`\sigma_w^2, \sigma_b^2, q^*`, width, depth, band,
        grad_limit, sparsity_drift, chi_drift, grid size.
    """

    risk: float
    drift_probability: float
    explosion_probability: float
    vanishing_probability: float
    drift_by_layer: np.ndarray
    levels: tuple
    q_quantiles: np.ndarray
    gradient_ratio_quantiles: np.ndarray
    log_ratio_mean: float
    log_ratio_std: float
    config: dict = field(default_factory=dict)

    @property
    def escape_probability(self) -> float:
        """Deprecated name of :attr:`drift_probability`."""
        return self.drift_probability

    @property
    def escape_by_layer(self) -> np.ndarray:
        """Deprecated name of :attr:`drift_by_layer`."""
        return self.drift_by_layer

    def gradient_quantile(self, level: float) -> float:
        """Quantile of the gradient ratio at ``level`` (from the stored mixture)."""
        return float(np.exp(_mixture_quantiles(*self._mix, [level])[0, 0] / 2))

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        lv = [f"{x:g}" for x in self.levels]
        return {"risk": self.risk, "drift_probability": self.drift_probability,
                "explosion_probability": self.explosion_probability,
                "vanishing_probability": self.vanishing_probability,
                "gradient_ratio_quantiles": dict(zip(lv, map(float,
                                                             self.gradient_ratio_quantiles))),
                "log_gradient_ratio_mean": self.log_ratio_mean,
                "log_gradient_ratio_std": self.log_ratio_std,
                "q_quantiles_last_layer": dict(zip(lv, map(float, self.q_quantiles[-1]))),
                "config": self.config}


def verdict_of(risk: float, threshold: float) -> str:
    """``"stable"`` if ``risk <= threshold``, ``"marginal"`` if ``risk <= 4 threshold``
    (within a factor 4 of the limit; the calibration in ``results/outcomes`` has settings that
    trained there), else ``"unstable"``. The one rule of ``check`` and ``recommend``."""
    if risk <= threshold:
        return "stable"
    return "marginal" if risk <= 4 * threshold else "unstable"


def _q_quantiles(hist: np.ndarray, edges: np.ndarray, q_star: float,
                 levels: Sequence[float]) -> np.ndarray:
    L = hist.shape[0]
    cdf = np.concatenate([np.zeros((L, 1)), np.cumsum(hist, axis=1)], axis=1)
    cdf /= cdf[:, -1:]
    out = np.empty((L, len(levels)))
    for l in range(L):
        c = np.maximum.accumulate(cdf[l])
        x = np.interp(levels, c, edges)
        q = q_star * np.exp(x)
        q[np.asarray(levels) <= c[1] - 1e-12] = 0.0 if hist[l, 0] > 0 else q[0]
        q[np.asarray(levels) >= c[-2] + 1e-12] = np.inf
        out[l] = q
    return out


def estimate_predict(width: int, depth: int, *, band: float = SPAN, settings: int = 1,
                     quantiles: bool = True, batch: int = 64) -> tuple[float, float]:
    r"""Peak bytes and operations of :func:`predict` (``quantiles=True``) or of
    :func:`predicted_risk` for ``settings`` settings in batches of ``batch``.

    The chain has :math:`n` cells (at most 480; the free chain for the quantiles as many
    on the wider range); per layer it multiplies a ``(batch, 3, n)`` stack by the ``(n, n)``
    kernel; the drift criteria are evaluated at 8 points per cell.
    Memory: the kernels (:math:`pprox 4 \cdot 8\,\mathrm{batch}\, n^2` bytes with
    temporaries) and the per-layer gradient shifts and (for quantiles) histograms,
    :math:`8 L\,\mathrm{batch}\, n` bytes each.

    Examples
    --------
    >>> nbytes, ops = estimate_predict(300, 100)
    >>> nbytes < 1e8
    True
    """
    N = check_int(width, "width", 2)
    L = float(check_int(depth, "depth", 1))
    b = check_band(band)
    n = len(_grid(N, b)[1])

    def chain(bsz: float, cells: int, keep: bool) -> tuple[float, float]:
        mem = 8.0 * (4 * bsz * cells * cells + (2 if keep else 1) * L * bsz * cells
                     + (3 * L * cells if keep else 0) + 8 * bsz * cells)
        ops = L * (6.0 * bsz * cells * cells + 30.0 * bsz * cells + 1e5) \
            + 100.0 * bsz * cells * cells
        return mem, ops

    if quantiles:
        m1, o1 = chain(1, n, False)
        m2, o2 = chain(1, len(_grid(N, b * b)[1]), True)
        return max(m1, m2), o1 + o2
    k = check_int(settings, "settings", 1)
    bsz = min(k, check_int(batch, "batch", 1))
    mem, ops = chain(bsz, n, False)
    return mem, ops * math.ceil(k / bsz)


def _check_size(what: str, nbytes: float, ops: float) -> None:
    check_resources(what, nbytes=nbytes, operations=ops, hint="lower depth")


def _check_drift(sparsity_drift: Any, chi_drift: Any) -> tuple[float, float]:
    sd, cd = float(sparsity_drift), float(chi_drift)
    if not 0 < sd <= 1:
        raise ValueError(f"sparsity_drift must be in (0, 1] (got {sparsity_drift!r})")
    if not (cd > 1 and math.isfinite(cd)):
        raise ValueError(f"chi_drift must be a finite number > 1 (got {chi_drift!r})")
    return sd, cd


def _chains(act, qs, qin, sw2, sb2, pk, N, L, b, sd, cd, keep_free):
    """Killed chain on [q*/b, b q*] (and, if ``keep_free``, the free chain on the wider
    [q*/b^2, b^2 q*], for quantiles of q^l that reach far out, e.g. plain ReLU's walk)."""
    def build(span):
        edges, cen, _ = _grid(N, span)
        qg = qs[:, None] * np.exp(cen)[None, :]
        eX, vX, *gr = _coefficients(act, qg, pk, sw2[:, None], sb2[:, None], N)
        K = _kernel(eX - np.log(qs)[:, None], vX, edges, clamp=True)
        return edges, qg, K, tuple(gr), _initial(qin, qs, edges, N, clamp=True)

    edges, qg, K, gr, p0 = build(b)
    # the alive fraction of each cell (8 points across it), so that a drift threshold
    # moves the killing boundary continuously with the parameters, not cell by cell
    h = edges[1] - edges[0]
    sub = (np.arange(_ALIVE_POINTS) + 0.5) / _ALIVE_POINTS - 0.5
    qf = (qg[:, :, None] * np.exp(h * sub)[None, None, :]).reshape(len(qs), -1)
    alive = _alive(act, qf, qs[:, None], pk, sd, cd).reshape(
        qg.shape + (_ALIVE_POINTS,)).mean(axis=2)
    killed = _run_chain(K, p0, gr, L, keep=False, alive=alive)
    if not keep_free:
        return edges, killed, None, None
    edges_f, _, K_f, gr_f, p0_f = build(b * b)
    return edges, killed, edges_f, _run_chain(K_f, p0_f, gr_f, L, keep=True)


def _split_risk(st: np.ndarray, g: float) -> tuple[np.ndarray, ...]:
    """(risk, drift, explosion, vanishing) from a killed chain's final stack."""
    w, mean, sd = _mixture(st)
    lim = 2 * math.log(g)
    c = _mixture_cdf(w, mean, sd, np.tile([[-lim, lim]], (len(w), 1)))
    alive = w.sum(axis=1)
    clip = lambda a: np.clip(a, 0.0, 1.0)  # noqa: E731
    return (clip(1.0 - (c[:, 1] - c[:, 0])), clip(1.0 - alive), clip(alive - c[:, 1]),
            clip(c[:, 0]))


def predict(activation: Activation | str, *, width: int, depth: int,
            sparsity: float | None = None, target_slope: float | None = None,
            q_star: float = 1.0, sigma_w2: float | None = None, sigma_b2: float | None = None,
            q_input: float | None = None, band: float = SPAN, grad_limit: float = GRAD_LIMIT,
            sparsity_drift: float = SPARSITY_DRIFT, chi_drift: float = CHI_DRIFT,
            levels: Sequence[float] = LEVELS, **params: float) -> FiniteWidthPrediction:
    r"""Predict the finite-width behaviour of one setting at initialisation.

    Parameters
    ----------
    activation : Activation or str
    width, depth : int
        :math:`N` (every layer) and :math:`L`.
    sparsity : float, optional
        Sets :math:`\tau` at :math:`q^*` (eq. 12).
    target_slope : float, optional
        Sets :math:`m` so that :math:`V'(q^*)` equals it on the EoC (Sec. 3.1).
    q_star : float, default 1
        Fixed-point variance; the reference for the drift criteria.
    sigma_w2, sigma_b2 : float, optional
        Off-EoC initialisation (default: the EoC point at :math:`q^*`).
    q_input : float, optional
        :math:`\|x\|^2/N_0` (default :math:`q^*`); :math:`q^1 = q_\text{in}\chi^2_N/N`.
    band : float, default 16
        The walk is followed on :math:`[q^*/b, b\,q^*]`; mass beyond stays in the end cells.
    grad_limit : float, default 1e3
        Explosion: :math:`\|\delta^1\|/\|\delta^L\| > g`; vanishing: :math:`< 1/g`.
    sparsity_drift, chi_drift : float, default 0.1 and 2
        Drift: :math:`|s(q^l) - s(q^*)| >` ``sparsity_drift`` or
        :math:`\chi_1(q^l)/\chi_1(q^*) \notin [1/c, c]` at some layer.
    levels : sequence of float
        Quantile levels to report.
    **params
        Activation parameters (``tau``, ``m``).

    Returns
    -------
    FiniteWidthPrediction

    Raises
    ------
    ValueError
        Bad width, depth, band, grad_limit, drift limits, parameters, or no EoC point.
    """
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    b = check_band(band)
    g = check_grad_limit(grad_limit)
    sdr, cdr = _check_drift(sparsity_drift, chi_drift)
    _check_size(f"predict(width={N}, depth={L})", *estimate_predict(N, L, band=b))
    lv = tuple(float(x) for x in levels)
    if any(not 0 < x < 1 for x in lv):
        raise ValueError(f"levels must be in (0, 1) (got {levels!r})")
    act, shape, q, sw2, sb2, pf = _resolve(activation, sparsity, target_slope, q_star,
                                           sigma_w2, sigma_b2, params)
    if q.size != 1:
        raise ValueError("predict takes one setting; use predicted_risk for arrays")
    qs = float(q[0])
    qin = qs if q_input is None else float(maps.check_variance(q_input, "q_input"))
    pk = {k: v[:, None] for k, v in pf.items()}
    edges, (st, surv, _), edges_f, (stw, _, hist) = _chains(
        act, q, np.array([qin]), sw2, sb2, pk, N, L, b, sdr, cdr, True)
    risk, drift, expl, van = (float(v[0]) for v in _split_risk(st, g))
    mix = _mixture(stw)
    wq = mix[0][0]
    tot = wq.sum()
    m_all = float(np.sum(wq * mix[1][0]) / tot)
    v_all = float(np.sum(wq * (mix[2][0] ** 2 + mix[1][0] ** 2)) / tot - m_all ** 2)
    gq = np.exp(_mixture_quantiles(*mix, lv)[0] / 2)
    qq = _q_quantiles(hist[:, 0, :], edges_f, qs, lv)
    cfg = {"activation": act.name, "params": {k: float(v[0]) for k, v in pf.items()},
           "sigma_w2": float(sw2[0]), "sigma_b2": float(sb2[0]), "q_star": qs,
           "q_input": qin, "width": N, "depth": L, "band": b, "grad_limit": g,
           "sparsity_drift": sdr, "chi_drift": cdr, "cells": len(edges) - 1,
           "cells_quantiles": len(edges_f) - 1}
    out = FiniteWidthPrediction(risk, drift, expl, van, np.clip(1.0 - surv[:, 0], 0.0, 1.0),
                                lv, qq, gq, m_all / 2, math.sqrt(max(v_all, 0.0)) / 2, cfg)
    out._mix = mix  # type: ignore[attr-defined]
    return out


def predicted_risk(activation: Activation | str, *, width: int, depth: int,
                   sparsity: Any = None, target_slope: Any = None, q_star: Any = 1.0,
                   sigma_w2: Any = None, sigma_b2: Any = None, band: float = SPAN,
                   grad_limit: float = GRAD_LIMIT, sparsity_drift: float = SPARSITY_DRIFT,
                   chi_drift: float = CHI_DRIFT, components: bool = False,
                   batch: int = 64, **params: Any):
    r"""Risk of many settings at once (vectorised; the phase diagram and ``recommend``).

    Every argument except ``width``, ``depth``, ``band``, ``grad_limit`` and the drift
    limits broadcasts (``sparsity``, ``target_slope``, ``q_star``, ``sigma_w2``,
    ``sigma_b2``, ``tau``, ``m``). Only the killed chain is run (no quantiles), in batches
    of ``batch`` settings. Settings with no EoC point raise (see
    :func:`eoctheory.theory.eoc.eoc_point`).

    Returns
    -------
    risk : ndarray
        Shape of the broadcast inputs; with ``components=True`` a tuple
        ``(risk, drift, explosion, vanishing)`` of such arrays.

    Examples
    --------
    >>> import numpy as np
    >>> r = predicted_risk("cst", width=300, depth=100, sparsity=0.8,
    ...                    target_slope=np.array([0.5, 0.9]))
    >>> r.shape
    (2,)
    """
    N = check_int(width, "width", 2)
    L = check_int(depth, "depth", 1)
    b = check_band(band)
    g = check_grad_limit(grad_limit)
    sdr, cdr = _check_drift(sparsity_drift, chi_drift)
    batch = check_int(batch, "batch", 1)
    _check_size(f"predicted_risk(width={N}, depth={L})",
                *estimate_predict(N, L, band=b, quantiles=False))
    act, shape, q, sw2, sb2, pf = _resolve(activation, sparsity, target_slope, q_star,
                                           sigma_w2, sigma_b2, params)
    _check_size(f"predicted_risk(width={N}, depth={L}) of {q.size} settings",
                *estimate_predict(N, L, band=b, settings=q.size, quantiles=False,
                                  batch=batch))
    out = np.empty((4, q.size))
    for i in range(0, q.size, batch):
        sl = slice(i, i + batch)
        pk = {k: v[sl, None] for k, v in pf.items()}
        _, (st, _, _), _, _ = _chains(act, q[sl], q[sl], sw2[sl], sb2[sl], pk, N, L, b,
                                      sdr, cdr, False)
        out[:, sl] = np.stack(_split_risk(st, g))
    res = tuple(o.reshape(shape) for o in out)
    return res if components else res[0]


def check_summary(activation: Activation | str, params: dict, sigma_w2: float,
                  sigma_b2: float, q_star: float, width: int, depth: int, *,
                  risk: float = 0.05, band: float = SPAN,
                  grad_limit: float = GRAD_LIMIT, arch: str = "dnn") -> dict:
    r"""What ``python -m eoctheory check --width N --depth L`` reports (JSON-ready).

    With ``arch="cnn2d"``, ``width`` is the number of channels :math:`C` of a 2-D CNN (the
    module notes say why :math:`N = C`).

    Returns
    -------
    dict
        ``predicted_risk`` (probability at initialisation that the sparsity or
        :math:`\chi_1` drifts along depth or that :math:`\|\delta^1\|/\|\delta^L\|` leaves
        :math:`[1/g, g]`), ``drift_probability``, ``explosion_probability``,
        ``vanishing_probability``, ``gradient_ratio_quantiles`` (level string -> ratio
        :math:`\|\delta^1\|/\|\delta^L\|`), ``q_quantiles_last_layer``, ``width``,
        ``depth``, ``band``, ``grad_limit``, ``sparsity_drift``, ``chi_drift``,
        ``risk_threshold``, ``verdict`` (:func:`verdict_of`) and ``reasons`` (lines).
    """
    if not 0 < float(risk) < 1:
        raise ValueError(f"risk must be in (0, 1) (got {risk!r})")
    check_arch(arch)
    pred = predict(activation, width=width, depth=depth, q_star=q_star, sigma_w2=sigma_w2,
                   sigma_b2=sigma_b2, band=band, grad_limit=grad_limit, **dict(params))
    d = pred.to_dict()
    verdict = verdict_of(pred.risk, risk)
    ok = pred.risk <= risk
    c = pred.config
    unit = (f"2-D CNN with C = {c['width']} channels (the predictor's width N = C), "
            if arch == "cnn2d" else f"finite width N = {c['width']}, ")
    reasons = [f"{unit}depth L = {c['depth']}: "
               f"predicted risk {pred.risk:.3g} ({'<=' if ok else '>'} {risk:g})",
               f"P(sparsity drifts > {c['sparsity_drift']:g} or chi_1 by a factor > "
               f"{c['chi_drift']:g} along depth) = {pred.drift_probability:.3g}; "
               f"P(|grad 1|/|grad L| > {grad_limit:g}) = {pred.explosion_probability:.3g}; "
               f"P(< 1/{grad_limit:g}) = {pred.vanishing_probability:.3g}",
               "gradient ratio |grad 1|/|grad L| 5/50/95%: " + ", ".join(
                   f"{pred.gradient_quantile(x):.3g}" for x in (0.05, 0.5, 0.95))]
    from eoctheory.theory.stability import gradient_fraction

    units = c["width"] * gradient_fraction(activation, q_star, **dict(params))
    if units < UNITS_NOTE:
        reasons.append(
            f"note: about {units:.0f} units per layer pass gradient (N E[phi'^2]^2/E[phi'^4] "
            f"< {UNITS_NOTE:g}): the paper's second failure mode (s = 0.85, V'(q*) = 0.5: 35 "
            "units at N = 300, 0.76-0.78 accuracy); in results/second-mode the same CReLU "
            "reached 0.69-0.80 at N = 300 and 0.88-0.90 at N = 600; not counted in the risk")
    return {"predicted_risk": pred.risk, "drift_probability": pred.drift_probability,
            "explosion_probability": pred.explosion_probability,
            "vanishing_probability": pred.vanishing_probability,
            "gradient_ratio_quantiles": d["gradient_ratio_quantiles"],
            "q_quantiles_last_layer": d["q_quantiles_last_layer"],
            "arch": arch, "width": c["width"], "depth": c["depth"], "band": band,
            "grad_limit": grad_limit, "sparsity_drift": c["sparsity_drift"],
            "chi_drift": c["chi_drift"], "risk_threshold": risk,
            "verdict": verdict, "reasons": reasons}
