r"""The correlation map :math:`R(\rho)`, its fixed point :math:`c^*`, slope and Jacobian moments.

For two inputs whose pre-activations have variance :math:`q^*` and correlation
:math:`\rho` (paper eq. 6, THEORY.md §1):

.. math::

    R(\rho) = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2}{q^*},\quad
    u_1 = \sqrt{q^*} z_1,\quad u_2 = \sqrt{q^*}(\rho z_1 + \sqrt{1-\rho^2} z_2),

and :math:`R'(\rho) = \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]`, so
:math:`R'(1) = \chi_1` (eq. 11, 19).

For piecewise-polynomial :math:`\phi` the inner expectation over :math:`z_2` is a closed
form derived by SymPy, :math:`g(\mu,\sigma) = \mathbb{E}[\phi(\mu + \sigma Z)]` (the same
truncated-Gaussian engine as the variance map, with shifted limits), so :math:`R` is a
one-dimensional integral, done by composite Gauss-Legendre split at the breakpoints.
Smooth activations use a tensor Gauss-Legendre rule on the sinh map.

Examples
--------
>>> from eoctheory.theory.correlation import correlation_map
>>> from eoctheory.theory.eoc import eoc_point
>>> p = eoc_point("crelu", tau=0.5, m=1.0)
>>> round(float(correlation_map("crelu", 1.0, p.sigma_w2, p.sigma_b2, tau=0.5, m=1.0)), 12)
1.0
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from eoctheory.engine import maps
from eoctheory.engine import precise
from eoctheory.engine.roots import illinois
from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.engine.gaussian import (
    NUMPY_FUNCTIONS,
    NotPiecewisePolynomial,
    Piece,
    gaussian_expectation,
    piecewise_intervals,
)

__all__ = [
    "correlation_map",
    "correlation_slope",
    "correlation_fixed_point",
    "jacobian_moments",
    "spectral_variance",
    "precise_correlation_map",
]

_MU = sp.Symbol("mu", real=True)
_SIG = sp.Symbol("sigma", positive=True)


@lru_cache(maxsize=64)
def _inner(expr: sp.Expr, symbols: tuple, derivative: bool) -> Any:
    """lambdify(mu, sigma, *params): E[f(mu + sigma Z)] for f = phi or phi'."""
    pieces = piecewise_intervals(expr, X)
    if derivative:
        pieces = tuple(Piece(p.lo, p.hi, sp.diff(p.expr, X)) for p in pieces)
    total = gaussian_expectation(pieces, X, _SIG, 1, loc=_MU)
    return sp.lambdify((_MU, _SIG, *symbols), total, modules=[NUMPY_FUNCTIONS, "numpy"],
                       cse=True)


def _panels(act: Activation, q: float, params: dict, n: int = 48):
    L = 13.0
    edges = {-L, L, 0.0, -1.0, 1.0, -2.5, 2.5, -5.0, 5.0, -8.0, 8.0}
    for b in precise.breakpoints(act, **params):
        zb = float(b) / np.sqrt(q)
        if -L < zb < L:
            edges.add(zb)
    e = np.array(sorted(edges))
    t, w = np.polynomial.legendre.leggauss(n)
    lo, hi = e[:-1, None], e[1:, None]
    z = (0.5 * (hi - lo) * t + 0.5 * (hi + lo)).ravel()
    wz = (0.5 * (hi - lo) * w).ravel() * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return z, wz


def _cross_moment(act: Activation, rho: np.ndarray, q: float, params: dict,
                  derivative: bool) -> np.ndarray:
    r""":math:`\mathbb{E}[f(u_1) f(u_2)]` with f = phi (or phi') for every rho."""
    sq = np.sqrt(q)
    pv = [float(v) for v in act.resolve(params)]
    f_outer = act.derivative if derivative else act
    try:
        if act.expr is None:
            raise NotPiecewisePolynomial("callable")
        der = maps.derive(act)
        inner = _inner(act.expr, act.symbols, derivative) if der.params == act.symbols \
            else None
        if inner is None:
            raise NotPiecewisePolynomial("unorderable")
    except NotPiecewisePolynomial:
        return _cross_moment_2d(act, rho, q, params, derivative)
    z, wz = _panels(act, q, params)
    fo = np.asarray(f_outer(sq * z, **params), dtype=float)
    r = rho[:, None]
    s = np.sqrt(np.maximum(0.0, 1.0 - r * r))
    out = np.empty(rho.shape)
    interior = np.abs(rho) < 1
    if interior.any():
        ri, si = r[interior], s[interior]
        g = inner(sq * ri * z[None, :], sq * si, *pv)
        out[interior] = np.sum(np.asarray(g, float) * fo[None, :] * wz[None, :], axis=1)
    for sign in (1.0, -1.0):
        sel = rho == sign
        if sel.any():
            fo2 = np.asarray(f_outer(sign * sq * z, **params), dtype=float)
            out[sel] = np.sum(fo * fo2 * wz)
    return out


def _cross_moment_2d(act, rho, q, params, derivative):
    f = act.derivative if derivative else act
    z, wz = maps.sinh_rule(1.0, 160)
    sq = np.sqrt(q)
    f1 = np.asarray(f(sq * z, **params), float)
    out = np.empty(rho.shape)
    for i, r in enumerate(rho):
        u2 = sq * (r * z[:, None] + np.sqrt(max(0.0, 1 - r * r)) * z[None, :])
        f2 = np.asarray(f(u2, **params), float)
        out[i] = np.einsum("i,j,i,ij->", wz, wz, f1, f2)
    return out


def _prep(activation, rho, sigma_w2, sigma_b2, q_star):
    act = get_activation(activation)
    r = np.asarray(rho, dtype=float)
    if not np.all((r >= -1) & (r <= 1)):
        raise ValueError(f"rho must be in [-1, 1] (got {np.ravel(r)[~np.ravel((r >= -1) & (r <= 1))][0]!r})")
    sw2 = float(maps.check_sigma(sigma_w2, "sigma_w2", True))
    sb2 = float(maps.check_sigma(sigma_b2, "sigma_b2", False))
    q = float(maps.check_variance(q_star, "q_star"))
    return act, r, sw2, sb2, q


def correlation_map(activation: Activation | str, rho: Any, sigma_w2: float, sigma_b2: float,
                    q_star: float = 1.0, **params: Any) -> np.float64 | np.ndarray:
    r"""The correlation map :math:`R(\rho)` at fixed-point variance :math:`q^*` (eq. 6).

    Returns a ``numpy.float64`` for a scalar ``rho``, an array of its shape otherwise.

    Parameters
    ----------
    rho : array_like
        Input correlations in [-1, 1].
    sigma_w2, sigma_b2, q_star : float
        Initialisation and the variance of both inputs' pre-activations.

    Notes
    -----
    :math:`R(1) = V(q^*)/q^*`, which is 1 when :math:`q^*` is a fixed point of :math:`V`.
    """
    act, r, sw2, sb2, q = _prep(activation, rho, sigma_w2, sigma_b2, q_star)
    flat = np.ravel(r)
    m = _cross_moment(act, flat, q, params, derivative=False)
    return ((sw2 * m + sb2) / q).reshape(r.shape)[()]  # float64 for a scalar rho


def correlation_slope(activation: Activation | str, rho: Any, sigma_w2: float,
                      q_star: float = 1.0, **params: Any) -> np.ndarray:
    r""":math:`R'(\rho) = \sigma_w^2\,\mathbb{E}[\phi'(u_1)\phi'(u_2)]`; :math:`R'(1) = \chi_1`."""
    act, r, sw2, _, q = _prep(activation, rho, sigma_w2, 0.0, q_star)
    return (sw2 * _cross_moment(act, np.ravel(r), q, params,
                                derivative=True)).reshape(r.shape)[()]  # float64 if scalar


def correlation_fixed_point(activation: Activation | str, sigma_w2: float, sigma_b2: float,
                            q_star: float = 1.0, **params: Any) -> float:
    r"""The stable fixed point :math:`c^*` of :math:`R` in :math:`[-1, 1]`.

    :math:`c^* = 1` when :math:`\chi_1 \le 1` (ordered phase and the EoC); otherwise the
    largest root of :math:`R(c) = c` below 1 (chaotic phase: inputs decorrelate).
    """
    act, _, sw2, sb2, q = _prep(activation, 0.0, sigma_w2, sigma_b2, q_star)
    vq = float(maps.variance_map(act, q, sw2, sb2, **params))
    if abs(vq - q) > 1e-8 * q:
        raise ValueError(f"q_star = {q:g} is not a fixed point of V for these sigma_w2, "
                         f"sigma_b2 (V(q*) = {vq:.6g}); pick sigma_b2 = q* - sigma_w2 E[phi^2]")
    c1 = float(maps.chi1(act, q, sw2, **params))
    if c1 <= 1 + 1e-12:
        return 1.0
    grid = np.linspace(-1, 1 - 1e-6, 401)
    F = correlation_map(act, grid, sw2, sb2, q, **params) - grid
    idx = np.nonzero(np.sign(F[:-1]) * np.sign(F[1:]) <= 0)[0]
    if not idx.size:
        return 1.0
    i = idx[-1]
    root = illinois(lambda c: correlation_map(act, c, sw2, sb2, q, **params) - c,
                    grid[[i]], grid[[i + 1]], F[[i]], F[[i + 1]])
    return float(root[0])


def jacobian_moments(activation: Activation | str, sigma_w2: float, q_star: float = 1.0,
                     **params: Any) -> tuple[float, float]:
    r""":math:`\mu_k = \sigma_w^{2k}\,\mathbb{E}[\phi'(\sqrt{q^*}Z)^{2k}]` for k = 1, 2 (App. A, F)."""
    sw2 = float(maps.check_sigma(sigma_w2, "sigma_w2", True))
    mu1 = sw2 * float(maps.slope_moment(activation, q_star, **params))
    mu2 = sw2**2 * float(maps.slope_moment4(activation, q_star, **params))
    return mu1, mu2


def spectral_variance(activation: Activation | str, depth: int, sigma_w2: float,
                      q_star: float = 1.0, weights: str = "gaussian", **params: Any) -> float:
    r"""Variance of the spectrum of :math:`JJ^T` at depth L (App. F, eq. 30).

    .. math:: \sigma^2_{JJ^T} = L\left(\frac{\mu_2}{\mu_1^2} - 1 - s_1\right),

    with :math:`s_1 = -1` for Gaussian and 0 for orthogonal weights (valid at
    :math:`\chi_1 = \mu_1 = 1`).
    """
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights must be 'gaussian' or 'orthogonal' (got {weights!r})")
    if int(depth) < 1:
        raise ValueError(f"depth must be a positive integer (got {depth!r})")
    mu1, mu2 = jacobian_moments(activation, sigma_w2, q_star, **params)
    s1 = -1.0 if weights == "gaussian" else 0.0
    return int(depth) * (mu2 / mu1**2 - 1 - s1)


def precise_correlation_map(activation: Activation | str, rho: float, sigma_w2: float,
                            sigma_b2: float, q_star: float = 1.0, dps: int = 20,
                            **params: Any) -> mpmath.mpf:
    r"""Oracle: :math:`R(\rho)` by nested mpmath quadrature split at the breakpoints."""
    act = get_activation(activation)
    with mpmath.workdps(dps + 5):
        q = mpmath.mpf(q_star)
        sq = mpmath.sqrt(q)
        r = mpmath.mpf(rho)
        s = mpmath.sqrt(1 - r * r)
        f, _ = precise.mp_functions(precise.numeric_expr(act, params))
        bps = [mpmath.mpf(sp.N(b, dps + 10)) for b in precise.breakpoints(act, **params)]

        def pts(center, scale):
            p = sorted({(b - center) / scale for b in bps} | {mpmath.mpf(0)})
            return [-mpmath.inf, *p, mpmath.inf]

        def outer(z1):
            u1 = sq * z1
            if s == 0:
                return f(u1) * f(u1 * r) * mpmath.npdf(z1)
            inner = mpmath.quad(lambda z2: f(sq * (r * z1 + s * z2)) * mpmath.npdf(z2),
                                pts(sq * r * z1, sq * s))
            return f(u1) * inner * mpmath.npdf(z1)

        val = mpmath.quad(outer, [-mpmath.inf, *sorted({b / sq for b in bps} | {0}),
                                  mpmath.inf])
        out = (mpmath.mpf(sigma_w2) * val + mpmath.mpf(sigma_b2)) / q
    with mpmath.workdps(dps):
        return +out
