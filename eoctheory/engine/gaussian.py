r"""Exact Gaussian expectations of piecewise-polynomial expressions, as SymPy.

This is the symbolic engine behind every closed form in eoctheory. An activation
:math:`\phi` that is a polynomial on each of finitely many intervals (its breakpoints may
depend on symbolic parameters such as :math:`\tau, m`) is split into those intervals, and

.. math::

    \mathbb{E}[p(\sqrt{q} Z)\,\mathbf 1\{a<Z<b\}] = \sum_k c_k q^{k/2} M_k(a, b),\qquad
    M_k(a, b) = \int_a^b z^k \varphi(z)\,dz,

with the truncated-Gaussian moments built exactly by the recursion

.. math::

    M_0 = \Phi(b)-\Phi(a),\quad M_1 = \varphi(a)-\varphi(b),\quad
    M_k = a^{k-1}\varphi(a) - b^{k-1}\varphi(b) + (k-1) M_{k-2}.

(Appendices B and E of the paper do this by hand for each activation; here it is done once
for all.) The results are SymPy expressions in three special functions defined here:

* :class:`GaussPDF` :math:`\varphi(x)`, the standard normal density,
* :class:`GaussCDF` :math:`\Phi(x)`, the standard normal CDF (an upper tail is written
  :math:`\Phi(-a)`, so it never cancels),
* :class:`GaussMass` :math:`\Phi(b)-\Phi(a)`, kept as one object so that its numeric
  implementation can take the difference of upper tails when both ends are positive.

Keeping them unevaluated makes differentiation exact and cheap (``fdiff``), lets coefficients
be collected and cancelled, and gives the LaTeX printer the paper's notation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np
import sympy as sp
from scipy import special as _sc

__all__ = [
    "GaussPDF",
    "GaussCDF",
    "GaussMass",
    "Piece",
    "NotPiecewisePolynomial",
    "piecewise_intervals",
    "to_piecewise",
    "gaussian_expectation",
    "split_expectation",
    "FinitePart",
    "U",
    "canonical",
    "NUMPY_FUNCTIONS",
    "MPMATH_FUNCTIONS",
]

_SQRT2 = sp.sqrt(2)
_SQRT2PI_INV = 1.0 / np.sqrt(2.0 * np.pi)
_SQRT1_2 = float(np.sqrt(0.5))


class GaussPDF(sp.Function):
    r"""Standard normal density :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""

    nargs = 1
    is_real = True
    is_nonnegative = True

    @classmethod
    def eval(cls, x):
        if x is sp.S.Infinity or x is sp.S.NegativeInfinity:
            return sp.S.Zero
        if x.is_zero:
            return 1 / sp.sqrt(2 * sp.pi)
        if x.could_extract_minus_sign():
            return cls(-x)
        return None

    def fdiff(self, argindex=1):
        return -self.args[0] * GaussPDF(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)


class GaussCDF(sp.Function):
    r"""Standard normal CDF :math:`\Phi(x) = \tfrac12\operatorname{erfc}(-x/\sqrt2)`."""

    nargs = 1
    is_real = True
    is_nonnegative = True

    @classmethod
    def eval(cls, x):
        if x is sp.S.Infinity:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero
        if x.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex=1):
        return GaussPDF(self.args[0])

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.erfc(-x / _SQRT2) / 2

    def _eval_rewrite_as_erf(self, x, **kwargs):
        return (1 + sp.erf(x / _SQRT2)) / 2

    def _eval_evalf(self, prec):
        return self.rewrite(sp.erfc)._eval_evalf(prec)


class GaussMass(sp.Function):
    r"""Gaussian mass of an interval, :math:`P(a<Z<b) = \Phi(b)-\Phi(a)`."""

    nargs = 2
    is_real = True

    @classmethod
    def eval(cls, a, b):
        if b is sp.S.Infinity:
            return GaussCDF(-a)
        if a is sp.S.NegativeInfinity:
            return GaussCDF(b)
        if sp.expand(b - a) == 0:
            return sp.S.Zero
        if a.could_extract_minus_sign() and b.could_extract_minus_sign():
            return cls(-b, -a)  # symmetry of the Gaussian
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        return -GaussPDF(a) if argindex == 1 else GaussPDF(b)

    def _eval_rewrite_as_GaussCDF(self, a, b, **kwargs):
        return GaussCDF(b) - GaussCDF(a)

    def _eval_rewrite_as_erfc(self, a, b, **kwargs):
        return (sp.erfc(a / _SQRT2) - sp.erfc(b / _SQRT2)) / 2

    def _eval_rewrite_as_erf(self, a, b, **kwargs):
        return (sp.erf(b / _SQRT2) - sp.erf(a / _SQRT2)) / 2

    def _eval_evalf(self, prec):
        return self.rewrite(sp.erfc)._eval_evalf(prec)


# --- numeric implementations used by lambdify --------------------------------------------

def _np_pdf(x):
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        return np.exp(-0.5 * x * x) * _SQRT2PI_INV
    t = x * x  # in place from here on: one temporary instead of four
    t *= -0.5
    np.exp(t, out=t)
    t *= _SQRT2PI_INV
    return t


def _np_mass(a, b):
    r"""Phi(b) - Phi(a) (a <= b) without cancellation of the two CDFs.

    Both ends positive: difference of upper tails :math:`\Phi(-a)-\Phi(-b)`; both negative:
    of lower tails; an interval around 0: :math:`\tfrac12[\operatorname{erf}(b/\sqrt2) +
    \operatorname{erf}(-a/\sqrt2)]`, a sum of two non-negative terms (relative accuracy
    ~eps even for a tiny interval around 0, e.g. the dead zone of ST at sparsity 1e-12).
    Intervals that are short *and* away from 0 still subtract: the compiled maps treat
    those with a Gauss-Legendre rule on the exact width (:func:`split_expectation`).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.size and a.min() > 0:  # the common case (tau > 0): difference of upper tails
        return _sc.ndtr(-a) - _sc.ndtr(-b)
    flip = a > 0
    lo = np.where(flip, -b, a)  # now lo <= 0 and lo < hi
    hi = np.where(flip, -a, b)
    out = _sc.ndtr(hi) - _sc.ndtr(lo)
    around0 = hi > 0
    if around0.any():
        sym = 0.5 * (_sc.erf(hi * _SQRT1_2) + _sc.erf(-lo * _SQRT1_2))
        out = np.where(around0, sym, out)
    return out


def _mp_mass(a, b):
    import mpmath

    return mpmath.ncdf(b) - mpmath.ncdf(a)


def _mp_pdf(x):
    import mpmath

    return mpmath.npdf(x)


def _mp_cdf(x):
    import mpmath

    return mpmath.ncdf(x)


#: Name -> NumPy implementation, for ``sympy.lambdify(..., modules=[NUMPY_FUNCTIONS, "numpy"])``.
NUMPY_FUNCTIONS = {
    "GaussPDF": _np_pdf,
    "GaussCDF": _sc.ndtr,
    "GaussMass": _np_mass,
    "erf": _sc.erf,
    "erfc": _sc.erfc,
}
#: Name -> mpmath implementation, for ``sympy.lambdify(..., modules=[MPMATH_FUNCTIONS, "mpmath"])``.
MPMATH_FUNCTIONS = {"GaussPDF": _mp_pdf, "GaussCDF": _mp_cdf, "GaussMass": _mp_mass}


# --- piecewise decomposition --------------------------------------------------------------

class NotPiecewisePolynomial(ValueError):
    """The expression is not a polynomial on finitely many orderable intervals."""


@dataclass(frozen=True)
class Piece:
    """One interval ``(lo, hi)`` of the real line on which the activation is ``expr``."""

    lo: sp.Expr
    hi: sp.Expr
    expr: sp.Expr


def to_piecewise(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with ``Max``, ``Min``, ``Abs``, ``sign`` and ``Heaviside`` as ``Piecewise``.

    The one rewriting used by the engine, :meth:`Activation.derivative` and the generated
    kernels, so the conditions (and with them the value of :math:`\phi'` at kinks) agree.
    """
    expr = expr.rewrite(sp.Piecewise)
    for f in (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside):
        expr = expr.replace(lambda e, f=f: isinstance(e, f), lambda e: e.rewrite(sp.Piecewise))
    return sp.piecewise_fold(expr)


def _linear_roots(e: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
    """Roots in x of e = 0, where e is linear in x once every Abs takes a sign."""
    abses = sorted(e.atoms(sp.Abs), key=sp.default_sort_key)
    roots = []
    for signs in product((1, -1), repeat=len(abses)):
        ei = e.subs({ab: s * ab.args[0] for ab, s in zip(abses, signs)})
        ei = sp.expand(ei)
        if not ei.has(x):
            continue
        poly = sp.Poly(ei, x) if ei.is_polynomial(x) else None
        if poly is None or poly.degree() != 1:
            raise NotPiecewisePolynomial(f"condition {e} is not linear in x")
        c1, c0 = poly.all_coeffs()
        roots.append(sp.expand(sp.cancel(-c0 / c1)))
    return roots


def _is_nonneg(e: sp.Expr) -> bool | None:
    e = sp.expand(e)
    if e.is_nonnegative:
        return True
    if e.is_nonpositive:
        return False
    return None


def _sort_points(points: list[sp.Expr]) -> list[sp.Expr]:
    uniq: list[sp.Expr] = []
    for p in points:
        if not any(sp.expand(p - u) == 0 for u in uniq):
            uniq.append(p)
    # insertion sort with a comparator that must decide every pair
    out: list[sp.Expr] = []
    for p in uniq:
        i = 0
        while i < len(out):
            d = _is_nonneg(out[i] - p)
            if d is None:
                raise NotPiecewisePolynomial(
                    f"cannot order the breakpoints {p} and {out[i]} with the parameters' "
                    "assumptions")
            if d:
                break
            i += 1
        out.insert(i, p)
    return out


def _branch_at(pw: sp.Piecewise, x: sp.Symbol, point: sp.Expr) -> sp.Expr:
    for e, c in pw.args:
        val = c.subs(x, point) if c is not sp.true else sp.true
        if val not in (sp.true, sp.false):
            val = sp.simplify(val)  # rare: a condition SymPy does not decide outright
        if val == sp.true:
            return e
        if val != sp.false:
            raise NotPiecewisePolynomial(f"cannot decide condition {c} at x = {point}")
    raise NotPiecewisePolynomial(f"activation undefined at x = {point}")


@lru_cache(maxsize=256)
def piecewise_intervals(expr: sp.Expr, x: sp.Symbol) -> tuple[Piece, ...]:
    """Split ``expr`` into pieces ``(lo, hi, polynomial in x)`` covering the real line.

    Raises :class:`NotPiecewisePolynomial` if a piece is not a polynomial in ``x``, a
    condition is not linear in ``x``, or the breakpoints cannot be ordered with the
    parameters' assumptions (the caller may then substitute numeric parameter values).
    """
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sp.Integer(expr) if isinstance(expr, int) else sp.Float(expr)
    elif not isinstance(expr, sp.Basic):  # never sympify text: it would run as Python
        raise TypeError("expr must be a SymPy expression; read text with "
                        "eoctheory.engine.expr.parse_activation")
    pw = to_piecewise(expr)
    if isinstance(pw, sp.Piecewise):
        points: list[sp.Expr] = []
        for _, c in pw.args:
            for rel in c.atoms(sp.core.relational.Relational):
                points.extend(_linear_roots(rel.lhs - rel.rhs, x))
        points = _sort_points(points)
        bounds = [sp.S.NegativeInfinity, *points, sp.S.Infinity]
        pieces: list[Piece] = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if lo is sp.S.NegativeInfinity:
                mid = hi - 1
            elif hi is sp.S.Infinity:
                mid = lo + 1
            else:
                mid = (lo + hi) / 2
            e = _branch_at(pw, x, mid)
            if pieces and sp.expand(pieces[-1].expr - e) == 0:
                pieces[-1] = Piece(pieces[-1].lo, hi, pieces[-1].expr)
            else:
                pieces.append(Piece(lo, hi, e))
    else:
        pieces = [Piece(sp.S.NegativeInfinity, sp.S.Infinity, pw)]
    for p in pieces:
        if p.expr.has(sp.Piecewise) or not p.expr.is_polynomial(x):
            raise NotPiecewisePolynomial(f"piece {p.expr} is not a polynomial in x")
    return tuple(pieces)


def _truncated_moments(n: int, a: sp.Expr, b: sp.Expr) -> list[sp.Expr]:
    """[M_0, ..., M_n] with M_k = int_a^b z^k pdf(z) dz (a may be -oo, b may be +oo)."""

    def boundary(k: int) -> sp.Expr:  # a^k pdf(a) - b^k pdf(b), zero at infinite ends
        ta = 0 if a is sp.S.NegativeInfinity else a**k * GaussPDF(a)
        tb = 0 if b is sp.S.Infinity else b**k * GaussPDF(b)
        return ta - tb

    moments = [GaussMass(a, b), boundary(0)]
    for k in range(2, n + 1):
        moments.append(boundary(k - 1) + (k - 1) * moments[k - 2])
    return moments[: n + 1]


def gaussian_expectation(pieces: tuple[Piece, ...], x: sp.Symbol, r: sp.Expr,
                         power: int = 1, loc: sp.Expr = sp.S.Zero, hermite: int = 0) -> sp.Expr:
    r"""Exact :math:`\mathbb{E}[f(\mu + rZ)^{p}\,\mathrm{He}_k(Z)]` for ``f`` given as polynomial pieces in ``x``.

    ``r`` is the standard deviation (:math:`\sqrt{q}`, a positive symbol or number), ``loc``
    the mean :math:`\mu` (0 for the variance map; the conditional mean for the inner
    expectation of the correlation map) and ``hermite`` the order :math:`k` of the
    probabilists' Hermite weight (0: none; 2 and 4 give the derivatives of THEORY.md §1,
    :math:`\tfrac{d^j}{dq^j}\mathbb{E}[f(\sqrt q Z)] = \mathbb{E}[f\,\mathrm{He}_{2j}(Z)]/(2q)^j`).
    """
    z = sp.Dummy("z", real=True)
    weight = sp.hermite_prob(hermite, z) if hermite else sp.S.One
    total = sp.S.Zero
    for p in pieces:
        poly = sp.Poly(sp.expand((p.expr**power).subs(x, loc + r * z) * weight), z)
        if poly.is_zero:
            continue
        a = (p.lo - loc) / r if p.lo.is_finite else p.lo
        b = (p.hi - loc) / r if p.hi.is_finite else p.hi
        moments = _truncated_moments(poly.degree(), a, b)
        for (k,), c in poly.terms():
            total += c * moments[k]
    return total


#: Local coordinate on a finite piece: :math:`z = \mathrm{lo}/r + u`, :math:`0 < u < w`.
U = sp.Symbol("u", nonnegative=True)


@dataclass(frozen=True)
class FinitePart:
    r"""One finite piece :math:`(\mathrm{lo}, \mathrm{lo} + W)` of a Gaussian expectation.

    Attributes
    ----------
    lo : its lower end in ``x``.
    width : :math:`W = \mathrm{hi} - \mathrm{lo}` in ``x``, simplified (``m`` for the CReLU
        window), so that the width in ``z``, :math:`w = W/r`, carries no cancellation.
    local : the integrand :math:`f(\mathrm{lo} + rU)` as a polynomial in :data:`U`, expanded
        so that the thresholds cancel symbolically (:math:`(\tau + rU) - \tau = rU`).
    closed : its exact contribution
        :math:`\mathbb{E}[f(rZ)\,\mathrm{He}_k(Z)\,\mathbf 1\{\mathrm{lo} < rZ < \mathrm{hi}\}]`.
    """

    lo: sp.Expr
    width: sp.Expr
    local: sp.Expr
    closed: sp.Expr


def split_expectation(pieces: tuple[Piece, ...], x: sp.Symbol, r: sp.Expr,
                      hermite: int = 0) -> tuple[sp.Expr, tuple[FinitePart, ...]]:
    r""":math:`\mathbb{E}[f(rZ)\,\mathrm{He}_k(Z)]` split into its infinite and finite pieces.

    Returns the closed form of the pieces that reach :math:`\pm\infty` (canonical) and one
    :class:`FinitePart` per finite piece on which ``f`` is not identically 0.

    Why: on a short piece (:math:`w = W/r \ll 1`) the closed form of its contribution, a
    combination of :math:`M_k(a, a + w)`, subtracts terms :math:`O(w)` to leave
    :math:`O(w^3)` (a CReLU window :math:`m/\sqrt q = 10^{-4}` loses 8 digits, more in
    :math:`V'` and :math:`V''`). The contribution itself is
    :math:`\int_0^w f(\mathrm{lo} + rU)\,\mathrm{He}_k(a + u)\,\varphi(a + u)\,du` with
    :math:`a = \mathrm{lo}/r`: a polynomial in :math:`u` (no cancellation once expanded
    symbolically) times an entire function, which a Gauss-Legendre rule of a few nodes
    integrates to round-off on a short interval (the compiled maps do that). Written with
    Hermite weights (rather than differentiated closed forms), the pieces add without the
    boundary terms at the breakpoints that cancel between neighbours.
    """
    tail = []
    finite = []
    for p in pieces:
        if sp.expand(p.expr) == 0:
            continue
        if p.lo.is_finite and p.hi.is_finite:
            finite.append(FinitePart(
                p.lo, sp.factor(sp.expand(p.hi - p.lo)),
                sp.expand(p.expr.subs(x, p.lo + r * U)),
                canonical(gaussian_expectation((p,), x, r, 1, hermite=hermite))))
        else:
            tail.append(p)
    return canonical(gaussian_expectation(tuple(tail), x, r, 1, hermite=hermite)), tuple(finite)


def canonical(expr: sp.Expr) -> sp.Expr:
    r"""Collect ``expr`` on the Gaussian special functions and cancel each coefficient.

    Differentiating a closed form produces many terms that cancel exactly (e.g. all the
    :math:`\varphi` terms in :math:`\tfrac{d}{dq}\mathbb{E}[\mathrm{ReLU}_\tau^2]`); doing the
    cancellation symbolically keeps the compiled maps short and free of round-off.
    """
    expr = sp.expand(expr).replace(
        lambda e: isinstance(e, (GaussPDF, GaussCDF, GaussMass)),
        lambda e: e.func(*[sp.factor(a) for a in e.args]))
    atoms = sorted(expr.atoms(GaussPDF, GaussCDF, GaussMass), key=sp.default_sort_key)
    if not atoms:
        return sp.factor(sp.cancel(expr))
    parts = sp.collect(expr, atoms, evaluate=False)
    out = sp.S.Zero
    for atom, coeff in parts.items():
        out += sp.factor(sp.cancel(coeff)) * atom
    return out
