r"""High-precision oracle: every quantity straight from :math:`\phi` by mpmath quadrature.

This route shares nothing with the closed forms but the activation's definition: it
evaluates :math:`\phi` (lambdified to mpmath) inside ``mpmath.quad``, with the integration
range split at the activation's breakpoints (mapped to :math:`z = x/\sqrt q`) and at the
activation's own scale :math:`z \sim q^{-1/2}`, so that tanh-sinh quadrature sees smooth
pieces. Derivatives of :math:`V` use the Hermite-weight formulas of THEORY.md §1:

.. math::

    \tfrac{d}{dq}\mathbb{E}[\phi^2] = \tfrac{1}{2q}\mathbb{E}[\phi^2 (Z^2-1)],\qquad
    \tfrac{d^2}{dq^2}\mathbb{E}[\phi^2] = \tfrac{1}{4q^2}\mathbb{E}[\phi^2 (Z^4-6Z^2+3)].

Precision is set with ``mpmath.workdps`` inside each call; global mpmath state is never
changed. Results are ``mpmath.mpf`` at ``dps`` digits.

Examples
--------
>>> from eoctheory import precise, get_activation
>>> v = precise.second_moment(get_activation("relu", tau=0.0), 1, dps=30)
>>> str(v)[:12]
'0.5'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.engine.gaussian import MPMATH_FUNCTIONS, NotPiecewisePolynomial, piecewise_intervals

__all__ = [
    "breakpoints",
    "expectation",
    "second_moment",
    "second_moment_derivative",
    "slope_moment",
    "sparsity",
    "variance_map",
    "variance_slope",
    "variance_curvature",
    "chi1",
]


def _numeric_expr(act: Activation, params: dict[str, Any]) -> sp.Expr:
    vals = {**act.values, **params}
    act.resolve(params)  # range checks
    # exact binary value of each float parameter (as the float64 maps see it)
    return act.expr.subs({p.symbol: sp.Rational(float(vals[p.name])) for p in act.params})


def breakpoints(activation: Activation | str, **params: Any) -> list[float]:
    """Numeric breakpoints of a piecewise activation at the given parameter values."""
    act = get_activation(activation)
    if act.expr is None:
        return []
    try:
        pieces = piecewise_intervals(_numeric_expr(act, params), X)
    except NotPiecewisePolynomial:
        return []
    return [p.hi for p in pieces[:-1]]


@lru_cache(maxsize=512)
def _mp_fns(expr: sp.Expr) -> tuple[Any, Any]:
    from eoctheory.engine.activations import _derivative

    mods = [MPMATH_FUNCTIONS, "mpmath"]
    return sp.lambdify(X, expr, modules=mods), sp.lambdify(X, _derivative(expr), modules=mods)


def _split_points(act: Activation, q: Any, params: dict[str, Any]) -> list[Any]:
    sq = mpmath.sqrt(q)
    pts = {mpmath.mpf(0)}
    for scale in (1, 4, 16):
        pts.update({mpmath.mpf(scale) / sq, -mpmath.mpf(scale) / sq})
    for z in (1, 3, 6, 10):
        pts.update({mpmath.mpf(z), -mpmath.mpf(z)})
    for b in breakpoints(act, **params):
        pts.add(mpmath.mpf(sp.N(b, mpmath.mp.dps + 10)) / sq)
    pts = sorted(p for p in pts if abs(p) < 40)
    return [-mpmath.inf, *pts, mpmath.inf]


def expectation(activation: Activation | str, g: Any, q: Any, dps: int = 30,
                **params: Any) -> mpmath.mpf:
    r""":math:`\mathbb{E}[g(\phi(\sqrt q Z), \phi'(\sqrt q Z), Z)]` at ``dps`` digits.

    ``g(f, df, z)`` receives mpmath numbers.
    """
    act = get_activation(activation)
    with mpmath.workdps(dps + 10):
        q = mpmath.mpf(q)
        if q <= 0:
            raise ValueError(f"q must be > 0 (got {q})")
        sq = mpmath.sqrt(q)
        if act.expr is None:
            f = lambda x: mpmath.mpf(float(act.func(float(x))))  # noqa: E731
            df = lambda x: mpmath.mpf(float(act.derivative(float(x))))  # noqa: E731
        else:
            f, df = _mp_fns(_numeric_expr(act, params))

        def integrand(z):
            x = sq * z
            return g(f(x), df(x), z) * mpmath.npdf(z)

        val = mpmath.quad(integrand, _split_points(act, q, params))
    with mpmath.workdps(dps):
        return +val


def second_moment(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`\mathbb{E}[\phi(\sqrt q Z)^2]` by quadrature."""
    return expectation(activation, lambda f, df, z: f * f, q, dps, **params)


def second_moment_derivative(activation: Activation | str, q: Any, order: int = 1,
                             dps: int = 30, **params: Any):
    r"""Hermite-weight formula for :math:`\frac{d^k}{dq^k}\mathbb{E}[\phi^2]`, k = 1, 2."""
    with mpmath.workdps(dps + 10):
        q = mpmath.mpf(q)
        if order == 1:
            v = expectation(activation, lambda f, df, z: f * f * (z * z - 1), q, dps + 10,
                            **params) / (2 * q)
        elif order == 2:
            v = expectation(activation, lambda f, df, z: f * f * (z**4 - 6 * z * z + 3), q,
                            dps + 10, **params) / (4 * q * q)
        else:
            raise ValueError(f"order must be 1 or 2 (got {order!r})")
    with mpmath.workdps(dps):
        return +v


def slope_moment(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^2]` by quadrature."""
    return expectation(activation, lambda f, df, z: df * df, q, dps, **params)


def sparsity(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`P(\phi(\sqrt q Z) = 0)`: the Gaussian mass of the pieces where :math:`\phi` is 0.

    Each piece between consecutive breakpoints is tested at its midpoint (and two more
    points) with the mpmath-evaluated :math:`\phi`, and its mass is summed with ``ncdf``.
    """
    act = get_activation(activation)
    if act.expr is None:
        raise ValueError("the oracle needs a symbolic activation for sparsity")
    f, _ = _mp_fns(_numeric_expr(act, params))
    with mpmath.workdps(dps + 10):
        sq = mpmath.sqrt(mpmath.mpf(q))
        bps = [mpmath.mpf(sp.N(b, dps + 20)) for b in breakpoints(act, **params)]
        edges = [-mpmath.inf, *bps, mpmath.inf]
        total = mpmath.mpf(0)
        for lo, hi in zip(edges[:-1], edges[1:]):
            if lo == -mpmath.inf:
                probes = [hi - 1, hi - 2, hi - 10]
            elif hi == mpmath.inf:
                probes = [lo + 1, lo + 2, lo + 10]
            else:
                probes = [lo + (hi - lo) * t for t in (mpmath.mpf(1) / 4, mpmath.mpf(1) / 2,
                                                       mpmath.mpf(3) / 4)]
            if all(f(p) == 0 for p in probes):
                total += mpmath.ncdf(hi / sq) - mpmath.ncdf(lo / sq)
    with mpmath.workdps(dps):
        return +total


def _scaled(factor: Any, value: Any, dps: int, shift: Any = 0) -> mpmath.mpf:
    """factor * value(dps + 5) + shift, computed with 5 guard digits, rounded to dps."""
    with mpmath.workdps(dps + 5):
        v = mpmath.mpf(factor) * value(dps + 5) + mpmath.mpf(shift)
    with mpmath.workdps(dps):
        return +v


def variance_map(activation: Activation | str, q: Any, sigma_w2: Any, sigma_b2: Any,
                 dps: int = 30, **params: Any) -> mpmath.mpf:
    r""":math:`V(q) = \sigma_w^2\mathbb{E}[\phi(\sqrt q Z)^2] + \sigma_b^2` by quadrature (eq. 3)."""
    return _scaled(sigma_w2, lambda d: second_moment(activation, q, d, **params), dps, sigma_b2)


def variance_slope(activation: Activation | str, q: Any, sigma_w2: Any, dps: int = 30,
                   **params: Any) -> mpmath.mpf:
    r""":math:`V'(q)` by the Hermite-weight formula."""
    return _scaled(sigma_w2, lambda d: second_moment_derivative(activation, q, 1, d, **params),
                   dps)


def variance_curvature(activation: Activation | str, q: Any, sigma_w2: Any, dps: int = 30,
                       **params: Any) -> mpmath.mpf:
    r""":math:`V''(q)` by the Hermite-weight formula."""
    return _scaled(sigma_w2, lambda d: second_moment_derivative(activation, q, 2, d, **params),
                   dps)


def chi1(activation: Activation | str, q: Any, sigma_w2: Any, dps: int = 30,
         **params: Any) -> mpmath.mpf:
    r""":math:`\chi_1 = \sigma_w^2\mathbb{E}[\phi'(\sqrt q Z)^2]` by quadrature (eq. 11)."""
    return _scaled(sigma_w2, lambda d: slope_moment(activation, q, d, **params), dps)
