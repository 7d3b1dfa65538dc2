r"""High-precision oracle: every quantity straight from :math:`\phi` by mpmath quadrature.

This route shares nothing with the closed forms but the activation's definition: it
evaluates :math:`\phi` (lambdified to mpmath) inside ``mpmath.quad``, with the integration
range split at the activation's breakpoints (mapped to :math:`z = x/\sqrt q`) and at the
activation's own scale :math:`z \sim q^{-1/2}`, so that the quadrature sees smooth
pieces. A smooth (not piecewise-polynomial) activation is integrated in :math:`x` on
pieces that do not depend on q (:func:`_expect_x`), with :math:`\phi` memoised at the
nodes: integrals at nearby q, as a fixed-point verification needs, then cost only the
Gaussian weight. Derivatives of :math:`V` use the Hermite-weight formulas of THEORY.md §1:

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
    "mp_functions",
    "numeric_expr",
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


def numeric_expr(act: Activation, params: dict[str, Any]) -> sp.Expr:
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
        pieces = piecewise_intervals(numeric_expr(act, params), X)
    except NotPiecewisePolynomial:
        return []
    return [p.hi for p in pieces[:-1]]


@lru_cache(maxsize=512)
def mp_functions(expr: sp.Expr) -> tuple[Any, Any]:
    from eoctheory.engine.activations import derivative_expr

    mods = [MPMATH_FUNCTIONS, "mpmath"]
    return sp.lambdify(X, expr, modules=mods), sp.lambdify(X, derivative_expr(expr), modules=mods)


def _split_points(act: Activation, q: Any, params: dict[str, Any]) -> tuple[list[Any], bool]:
    r"""Integration edges in z, and whether every piece between them is polynomial in x.

    Piecewise-polynomial activations are split at their breakpoints (mapped to
    :math:`z = x/\sqrt q`) and at :math:`z = 0, \pm1, \pm3, \pm6, \pm10`: each piece is then
    a polynomial times the Gaussian density, an entire function. Other activations are also
    split at their own scale :math:`z = \pm\{1, 4, 16\}/\sqrt q`.
    """
    sq = mpmath.sqrt(q)
    pts = {mpmath.mpf(0)}
    bps = breakpoints(act, **params)
    poly = act.expr is not None and _is_piecewise_polynomial(numeric_expr(act, params))
    if not poly:
        for scale in (1, 4, 16):
            pts.update({mpmath.mpf(scale) / sq, -mpmath.mpf(scale) / sq})
    # short pieces keep the Gauss-Legendre degree low (measured: 1.7x faster than 1, 3, 6, 10)
    for z in ((1, 2, 3, 4.5, 6, 8, 10, 13, 17, 25) if poly else (1, 3, 6, 10)):
        pts.update({mpmath.mpf(z), -mpmath.mpf(z)})
    for b in bps:
        pts.add(mpmath.mpf(sp.N(b, mpmath.mp.dps + 10)) / sq)
    pts = sorted(p for p in pts if abs(p) < 40)
    return [-mpmath.inf, *pts, mpmath.inf], poly


@lru_cache(maxsize=512)
def _is_piecewise_polynomial(expr: sp.Expr) -> bool:
    try:
        piecewise_intervals(expr, X)
    except NotPiecewisePolynomial:
        return False
    return True


def expectation(activation: Activation | str, g: Any, q: Any, dps: int = 30,
                **params: Any) -> mpmath.mpf:
    r""":math:`\mathbb{E}[g(\phi(\sqrt q Z), \phi'(\sqrt q Z), Z)]` at ``dps`` digits.

    ``g(f, df, z)`` receives mpmath numbers. Quadrature at ``dps + 10`` working digits:
    Gauss-Legendre on the finite pieces of a piecewise-polynomial activation (entire
    integrands: it converges geometrically, about twice as fast as tanh-sinh here),
    tanh-sinh elsewhere. Beyond :math:`|z| = 40` the Gaussian weight is below
    :math:`10^{-347}` and the integral is cut there for the polynomial pieces.
    """
    return _expect(activation, g, q, dps, params, need_f=True, need_df=True)


def _expect(activation: Activation | str, g: Any, q: Any, dps: int, params: dict,
            need_f: bool, need_df: bool) -> mpmath.mpf:
    r""":func:`expectation`, evaluating only the parts of (phi, phi') that ``g`` uses.

    mpmath's ``quad`` stops on an absolute error estimate (its working eps), so the
    integrand is divided by its size (the largest :math:`|g\,\varphi|` on a few probes) first:
    the precision is then relative at every q (E[phi^2] ~ q spans 1e-100 to 1e100). Where
    the integral is much smaller than its integrand (the Hermite weights of V'' cancel to
    1e-50 of the integrand for ReLU_tau at q = 1e100) it is recomputed with that many more
    digits, until the digits lost are covered (at most 600 extra).
    """
    act = get_activation(activation)
    if act.expr is None:
        f = lambda x: mpmath.mpf(float(act.func(float(x))))  # noqa: E731
        df = lambda x: mpmath.mpf(float(act.derivative(float(x))))  # noqa: E731
        expr = None
    else:
        expr = numeric_expr(act, params)
        f, df = mp_functions(expr)
        if not _is_piecewise_polynomial(expr):
            bps = tuple(breakpoints(act, **params))
            return _expect_x(expr, bps, f, df, g, q, dps, need_f, need_df)
    extra = 0
    for _ in range(6):
        with mpmath.workdps(dps + 10 + extra):
            qm = mpmath.mpf(q)
            if qm <= 0:
                raise ValueError(f"q must be > 0 (got {qm})")
            sq = mpmath.sqrt(qm)
            c = 1 / mpmath.sqrt(2 * mpmath.pi)

            def h(z, sq=sq, c=c):
                x = sq * z
                return g(f(x) if need_f else None, df(x) if need_df else None, z) * \
                    (c * mpmath.exp(-z * z / 2))

            pts, poly = _split_points(act, qm, params)
            fin = [p for p in pts if mpmath.isfinite(p)]
            probes = {mpmath.mpf(k) / 2 for k in range(-8, 9)}
            probes.update((a + b) / 2 for a, b in zip(fin[:-1], fin[1:]))
            size = max(abs(h(z)) for z in probes)
            size = size if size > 0 else mpmath.mpf(1)

            def integrand(z, size=size, h=h):
                return h(z) / size

            if poly:
                cut = [max(min(p, mpmath.mpf(40)), mpmath.mpf(-40)) for p in pts]
                val = mpmath.quad(integrand, cut, method="gauss-legendre")
            else:
                val = mpmath.quad(integrand, pts)
            lost = float(-mpmath.log10(abs(val))) if val != 0 else float(dps + 10 + extra)
            val *= size
        if lost <= extra + 5 or extra >= 600:
            break
        extra = min(int(lost) + 5, 600)  # a value lost in noise: at least dps more digits
    with mpmath.workdps(dps):
        return +val


#: :math:`\phi` and :math:`\phi'` at the quadrature nodes of :func:`_expect_x`, per
#: (expression, which, binary precision): those nodes do not depend on q, so integrals at many
#: nearby q (the fixed-point verification: Newton steps, V', V'' at the root, two roots) pay
#: for the activation once per node and afterwards only for the Gaussian weight.
_PHI_MEMO: dict = {}
_PHI_MEMO_MAX = 20_000  # values per table (~8 MB; one verification uses ~5000)
_PHI_MEMO_TABLES = 8  # tables kept (the least recently used goes): a sweep stays bounded


def _memoized(fn: Any, key: tuple) -> Any:
    table = _PHI_MEMO.pop(key, None)
    if table is None:
        table = {}
        while len(_PHI_MEMO) >= _PHI_MEMO_TABLES:
            del _PHI_MEMO[next(iter(_PHI_MEMO))]
    _PHI_MEMO[key] = table  # most recently used last

    def cached(x, table=table):
        v = table.get(x)
        if v is None:
            if len(table) >= _PHI_MEMO_MAX:
                table.clear()
            v = table[x] = fn(x)
        return v
    return cached


def _x_split_points(expr: sp.Expr, bps: tuple, q: Any, wd: int) -> list[Any]:
    r"""Integration edges in :math:`x` for a smooth (non-polynomial) activation.

    :math:`0`, the breakpoints ``bps`` (:func:`breakpoints`) and the switching points of
    a ``Piecewise`` definition (:func:`_x_breakpoints`), and :math:`\pm 16^k`
    for every :math:`k` from the largest :math:`16^k \le \min(\sqrt q, 1)/8` to the
    smallest :math:`16^k \ge z_c\sqrt q`, where
    :math:`z_c = \sqrt{2 (w + 5)\ln 10}` is where the Gaussian weight drops below
    :math:`10^{-w-5}` at ``wd`` = :math:`w` working digits (beyond it, tanh-sinh on the tails to
    :math:`\pm\infty` sees a negligible integrand and stops after two levels unless
    :math:`\phi^2` outgrows the Gaussian there). Each piece spans a factor 16, so it resolves
    both the activation's own scale (:math:`x \sim 1`) and the Gaussian's
    (:math:`x \sim \sqrt q`); the edges depend on q only through which powers of 16 are
    kept, so nearby q share every node (see ``_PHI_MEMO``). (Measured over tanh, erf, GELU,
    SiLU and x tanh x at q from 1e-6 to 1e8: 15% fewer integrand evaluations than powers
    of 4 at 30 digits, 30% fewer at 45; powers of 2 take 40% more.)
    """
    sq = mpmath.sqrt(q)
    zc = mpmath.sqrt(2 * (wd + 5) * mpmath.log(10))
    k_lo = int(mpmath.floor(mpmath.log(min(sq, 1) / 8, 16)))
    k_hi = max(int(mpmath.ceil(mpmath.log(zc * sq, 16))), k_lo + 1)
    pos = [mpmath.ldexp(1, 4 * k) for k in range(k_lo, k_hi + 1)]
    pts = {mpmath.mpf(0), *pos, *(-p for p in pos)}
    pts.update(mpmath.mpf(sp.N(b, wd + 10)) for b in (*bps, *_x_breakpoints(expr)))
    return [-mpmath.inf, *sorted(pts), mpmath.inf]


@lru_cache(maxsize=512)
def _x_breakpoints(expr: sp.Expr) -> tuple[sp.Expr, ...]:
    """Where a condition of a ``Piecewise`` switches, if it is linear in x or in |x|
    (``x < tau``, ``Abs(x) < tau``: the kinks of SCReLU and of a dead zone)."""
    out = set()
    y = sp.Dummy("y")
    for rel in expr.atoms(sp.core.relational.Relational):
        d = sp.expand(rel.lhs - rel.rhs)
        for var, signs in ((X, (1,)), (y, (1, -1))):
            e = d.subs(sp.Abs(X), y) if var is y else d
            if e.free_symbols == {var} and e.is_polynomial(var) and sp.degree(e, var) == 1:
                a, b = sp.Poly(e, var).all_coeffs()
                out.update(s * (-b / a) for s in signs)
                break
    return tuple(sorted(out, key=float))


def _expect_x(expr: sp.Expr, bps: tuple, f: Any, df: Any, g: Any, q: Any, dps: int,
              need_f: bool, need_df: bool) -> mpmath.mpf:
    r""":func:`_expect` for a smooth activation, integrated in :math:`x = \sqrt q z`:

    .. math::

        \mathbb{E}[g] = \int g(\phi(x), \phi'(x), x/\sqrt q)\,
        \frac{e^{-x^2/(2q)}}{\sqrt{2\pi q}}\,dx,

    tanh-sinh on the pieces of :func:`_x_split_points` at ``dps + 10`` working digits, with
    :math:`\phi, \phi'` memoised at the nodes. The integrand is divided by its size and
    digits lost to cancellation are recovered as in :func:`_expect`.
    """
    extra = 0
    for _ in range(6):
        wd = dps + 10 + extra
        with mpmath.workdps(wd):
            qm = mpmath.mpf(q)
            if qm <= 0:
                raise ValueError(f"q must be > 0 (got {qm})")
            prec = mpmath.mp.prec
            fm = _memoized(f, (expr, "f", prec)) if need_f else None
            dfm = _memoized(df, (expr, "df", prec)) if need_df else None
            sq = mpmath.sqrt(qm)
            inv_sq, m_half_inv_q, exp = 1 / sq, -1 / (2 * qm), mpmath.exp

            c = inv_sq / mpmath.sqrt(2 * mpmath.pi)  # the density's constant

            def h(x, k=c):  # k g exp(-x^2/(2q)): with k = c, the integrand of E[g]
                return g(fm(x) if fm else None, dfm(x) if dfm else None, x * inv_sq) * \
                    (k * exp(x * x * m_half_inv_q))

            pts = _x_split_points(expr, bps, qm, wd)
            fin = pts[1:-1]
            probes = {sq * k / 2 for k in range(-8, 9)}
            probes.update((a + b) / 2 for a, b in zip(fin[:-1], fin[1:]))
            size = max(abs(h(x)) for x in probes)
            size = size if size > 0 else mpmath.mpf(1)
            # divided by its size: mpmath's quad stops on an absolute error estimate
            val = mpmath.quad(lambda x, k=c / size: h(x, k), pts)
            lost = float(-mpmath.log10(abs(val))) if val != 0 else float(wd)
            val *= size
        if lost <= extra + 5 or extra >= 600:
            break
        extra = min(int(lost) + 5, 600)
    with mpmath.workdps(dps):
        return +val


def second_moment(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`\mathbb{E}[\phi(\sqrt q Z)^2]` by quadrature."""
    return _expect(activation, lambda f, df, z: f * f, q, dps, params, True, False)


def second_moment_derivative(activation: Activation | str, q: Any, order: int = 1,
                             dps: int = 30, **params: Any):
    r"""Hermite-weight formula for :math:`\frac{d^k}{dq^k}\mathbb{E}[\phi^2]`, k = 1, 2."""
    with mpmath.workdps(dps + 10):
        q = mpmath.mpf(q)
        if order == 1:
            v = _expect(activation, lambda f, df, z: f * f * (z * z - 1), q, dps + 10,
                        params, True, False) / (2 * q)
        elif order == 2:
            v = _expect(activation, lambda f, df, z: f * f * (z**4 - 6 * z * z + 3), q,
                        dps + 10, params, True, False) / (4 * q * q)
        else:
            raise ValueError(f"order must be 1 or 2 (got {order!r})")
    with mpmath.workdps(dps):
        return +v


def slope_moment(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^2]` by quadrature."""
    return _expect(activation, lambda f, df, z: df * df, q, dps, params, False, True)


def sparsity(activation: Activation | str, q: Any, dps: int = 30, **params: Any):
    r""":math:`P(\phi(\sqrt q Z) = 0)`: the Gaussian mass of the pieces where :math:`\phi` is 0.

    Each piece between consecutive breakpoints is tested at its midpoint (and two more
    points) with the mpmath-evaluated :math:`\phi`, and its mass is summed with ``ncdf``.
    """
    act = get_activation(activation)
    if act.expr is None:
        raise ValueError("the oracle needs a symbolic activation for sparsity")
    expr = numeric_expr(act, params)
    f, _ = mp_functions(expr)
    with mpmath.workdps(dps + 10):
        sq = mpmath.sqrt(mpmath.mpf(q))
        # polynomial pieces' breakpoints, and the kinks of Piecewise conditions linear in x
        # or |x| of any other activation (SCReLU: exact zeros below tau, smooth above)
        bps = sorted({mpmath.mpf(sp.N(b, dps + 20))
                      for b in (*breakpoints(act, **params), *_x_breakpoints(expr))})
        edges = [-mpmath.inf, *bps, mpmath.inf]
        total = mpmath.mpf(0)
        for lo, hi in zip(edges[:-1], edges[1:]):
            if lo == -mpmath.inf and hi == mpmath.inf:  # no breakpoint at all
                probes = [mpmath.mpf(k) for k in (-10, -1, 0, 1, 10)]
            elif lo == -mpmath.inf:  # steps on the breakpoint's own scale (x may be 1e50)
                probes = [hi - k * (1 + abs(hi)) for k in (1, 2, 10)]
            elif hi == mpmath.inf:
                probes = [lo + k * (1 + abs(lo)) for k in (1, 2, 10)]
            else:
                probes = [lo + (hi - lo) * t for t in (mpmath.mpf(1) / 4, mpmath.mpf(1) / 2,
                                                       mpmath.mpf(3) / 4)]
            if all(f(p) == 0 for p in probes):
                total += _mass(lo / sq, hi / sq)
    with mpmath.workdps(dps):
        return +total


def _mass(a, b):
    r""":math:`\Phi(b) - \Phi(a)` to the working precision, also for a short interval.

    Around 0 a sum of two erf's of opposite sign; on one side a difference of tails,
    computed with :math:`\log_{10}(1/(b-a))` extra digits (what it cancels).
    """
    s2 = mpmath.sqrt(2)
    if a < 0 < b:
        return (mpmath.erf(b / s2) - mpmath.erf(a / s2)) / 2
    lo, hi = (a, b) if a >= 0 else (-b, -a)  # upper tails: erfc(lo) - erfc(hi)
    extra = 0 if not mpmath.isfinite(hi) or hi == lo else \
        max(0, int(mpmath.ceil(-mpmath.log10(hi - lo))))
    with mpmath.workdps(mpmath.mp.dps + extra + 5):
        v = (mpmath.erfc(lo / s2) - (mpmath.erfc(hi / s2) if mpmath.isfinite(hi) else 0)) / 2
    return +v


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
