r"""Derived quantities of an activation, as SymPy closed forms and as fast NumPy maps.

For an activation :math:`\phi` and :math:`Z \sim N(0,1)` (THEORY.md §1, paper eq. 3, 11):

.. math::

    V(q) &= \sigma_w^2\,\mathbb{E}[\phi(\sqrt q Z)^2] + \sigma_b^2 \\
    V'(q) &= \sigma_w^2\,\tfrac{d}{dq}\mathbb{E}[\phi(\sqrt q Z)^2],\qquad
    V''(q) = \sigma_w^2\,\tfrac{d^2}{dq^2}\mathbb{E}[\phi(\sqrt q Z)^2] \\
    \chi_1(q) &= \sigma_w^2\,\mathbb{E}[\phi'(\sqrt q Z)^2],\qquad
    s(q) = P(\phi(\sqrt q Z) = 0)

Piecewise-polynomial activations get exact closed forms from :mod:`eoctheory.engine.gaussian`,
differentiated and simplified by SymPy, then compiled with ``lambdify`` (explicit modules,
common-subexpression elimination). Everything else (tanh, GELU, a NumPy callable) goes
through a Gauss-Legendre rule on :math:`z = s\sinh t` with :math:`s = \min(1, q^{-1/2})`,
which resolves both the Gaussian and the activation's own scale; the derivatives then use
Stein's identity (smooth SymPy activations) or the Hermite-weight formulas of THEORY.md §1
(callables and piecewise non-polynomial expressions). A ``Piecewise`` with non-polynomial
pieces is integrated piece by piece between its breakpoints, found once in SymPy and
evaluated at each row's parameters (:class:`_Breakpoints`, :meth:`_Quadrature._expect_pieces`),
and its sparsity is the exact Gaussian mass of its zero pieces:

.. math::

    V'(q) = \frac{\sigma_w^2}{2q}\mathbb{E}[\phi^2 (Z^2-1)],\qquad
    V''(q) = \frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi^2 (Z^4-6Z^2+3)].

Short pieces. On a finite piece of width :math:`w = W/\sqrt q` in units of Z (the clipping
window :math:`m/\sqrt q` of CReLU and CST) the closed forms subtract terms :math:`O(w)` to
leave :math:`O(w^3)`: :math:`V'` of CReLU lost 4 digits at :math:`w = 10^{-4}`. Where some
piece has :math:`w <` :data:`SHORT_WIDTH` (0.25) the quantity is evaluated instead as a sum
over pieces in the Hermite-weight form above: the infinite pieces in closed form, each
short piece by a 16-node Gauss-Legendre rule on its exact width, with its polynomial
expanded about its left end so that the threshold cancels symbolically
(:func:`~eoctheory.engine.gaussian.split_expectation`). That keeps every quantity at round-off
for any :math:`w > 0` (tested down to :math:`10^{-50}`); the closed forms themselves (and the
LaTeX) are unchanged, and only points with a short piece pay for the rule.

Accuracy and range. In the box sparsity 0.01-0.99, :math:`q \in [10^{-4}, 10^4]`,
:math:`m \in [0.01, 10]` the compiled E[phi^2], V, V', V'', chi_1 and sparsity of ReLU_tau,
ST_tau, CReLU and CST are within 1e-10 (relative) of the mpmath oracle
(tests/engine/test_box.py, benchmarks/fuzz_box.py: ~1e-13 measured). Every map refuses q
outside :math:`[10^{-100}, 10^{100}]` (:data:`Q_MIN`, :data:`Q_MAX`; ``ValueError`` naming q
and the range): the closed forms hold products up to :math:`q^3` and V'' falls like
:math:`q^{-2}`, so beyond that range they overflow or underflow (V'' of ReLU_tau was 0 above
q ~ 1e154); inside it the catalogue's maps are tested at both ends. A result that is
not finite anyway (a user's high-degree polynomial piece at large q) is a ``ValueError``,
never a NaN or an infinity.

Smooth activations at large q. Above q = 1 the quadrature route splits each integrand into
its polynomial asymptote A on either side of 0 (1 for tanh^2, :math:`x^2\mathbf 1\{x>0\}`
for GELU^2 and SiLU^2; found numerically, :func:`_asymptote`), whose Hermite-weighted
expectations are closed forms, and a remainder concentrated at :math:`|z| \lesssim q^{-1/2}`,
integrated by the sinh rule over :math:`|x| < 64`. Nothing cancels and the rule resolves
the remainder at every q: V, V', V'', chi_1 of tanh, erf, GELU and SiLU stay within ~1e-13
of the oracle up to q = 1e100 (the Stein forms used before lost ~eps q in V' and
~eps q^1.5 in V''). Activations without that split (callables, smooth expressions with
parameters or without polynomial asymptotes) keep the Stein/Hermite route and refuse
q > 1e4 for V'', 1e6 for V', 1e10 for the rest (``_Q_MAX_PLAIN``).

All functions broadcast over ``q``, ``sigma_w2``, ``sigma_b2`` and every activation
parameter, and check their inputs (``ValueError`` naming the parameter). Like NumPy's
ufuncs they return a ``numpy.float64`` (a subclass of ``float``) when every input is a
scalar (or a 0-d array), and an ndarray of the broadcast shape otherwise
(tests/test_api_types.py).

Examples
--------
>>> import numpy as np
>>> from eoctheory import get_activation, variance_map, variance_slope, chi1
>>> relu = get_activation("relu", tau=0.0)
>>> float(variance_map(relu, 1.0, sigma_w2=2.0, sigma_b2=0.0))   # He initialisation
1.0
>>> crelu = get_activation("crelu", tau=0.5, m=1.0)
>>> variance_slope(crelu, np.array([0.5, 1.0, 2.0]), sigma_w2=2.0).shape
(3,)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.engine.gaussian import (
    NUMPY_FUNCTIONS,
    GaussMass,
    NotPiecewisePolynomial,
    Piece,
    to_piecewise,
    U,
    canonical,
    gaussian_expectation,
    piecewise_intervals,
    split_expectation,
)

__all__ = [
    "Q",
    "SIGMA_W2",
    "SIGMA_B2",
    "Derivation",
    "derive",
    "second_moment",
    "second_moment_derivative",
    "slope_moment",
    "sparsity",
    "variance_map",
    "variance_slope",
    "variance_curvature",
    "chi1",
    "slope_moment4",
    "gaussian_moment",
    "check_variance",
    "check_sigma",
    "derive_expr",
    "Q_MIN",
    "Q_MAX",
    "SHORT_WIDTH",
]

#: Variance of the pre-activations (q > 0).
Q = sp.Symbol("q", positive=True)
#: Weight variance sigma_w^2 (> 0).
SIGMA_W2 = sp.Symbol("sigma_w2", positive=True)
#: Bias variance sigma_b^2 (>= 0).
SIGMA_B2 = sp.Symbol("sigma_b2", nonnegative=True)
_R = sp.Symbol("r", positive=True)  # sqrt(q), used during derivation


@dataclass(frozen=True)
class Derivation:
    r"""Closed forms derived from one piecewise-polynomial activation.

    Every attribute is a SymPy expression in :data:`Q` and the activation's parameter
    symbols (and :data:`SIGMA_W2`, :data:`SIGMA_B2` where they enter).

    Attributes
    ----------
    second_moment : :math:`\mathbb{E}[\phi(\sqrt q Z)^2]` (App. B eq. 37, App. E eq. 45)
    second_moment_d1, second_moment_d2 : its first and second derivatives in ``q``
    slope_moment : :math:`\mathbb{E}[\phi'(\sqrt q Z)^2]`, or None if :math:`\phi` jumps
    slope_moment4 : :math:`\mathbb{E}[\phi'(\sqrt q Z)^4]` (for :math:`\mu_2`), or None
    sparsity : :math:`P(\phi(\sqrt q Z)=0)` (eq. 12)
    pieces : the intervals and polynomial pieces of :math:`\phi`
    jumps : breakpoints where :math:`\phi` is discontinuous
    """

    params: tuple[sp.Symbol, ...]
    pieces: tuple[Piece, ...]
    second_moment: sp.Expr
    second_moment_d1: sp.Expr
    second_moment_d2: sp.Expr
    slope_moment: sp.Expr | None
    slope_moment4: sp.Expr | None
    sparsity: sp.Expr
    jumps: tuple[sp.Expr, ...]

    @property
    def variance(self) -> sp.Expr:
        r""":math:`V(q) = \sigma_w^2 \mathbb{E}[\phi^2] + \sigma_b^2` (eq. 3)."""
        return SIGMA_W2 * self.second_moment + SIGMA_B2

    @property
    def dvariance(self) -> sp.Expr:
        r""":math:`V'(q)` (eq. 13 for CReLU)."""
        return SIGMA_W2 * self.second_moment_d1

    @property
    def d2variance(self) -> sp.Expr:
        r""":math:`V''(q)` (eq. 40 for ReLU_tau)."""
        return SIGMA_W2 * self.second_moment_d2

    @property
    def chi1(self) -> sp.Expr:
        r""":math:`\chi_1 = \sigma_w^2 \mathbb{E}[\phi'(\sqrt q Z)^2]` (eq. 11, 19)."""
        if self.slope_moment is None:
            raise ValueError(f"chi_1 is infinite: the activation jumps at x = {list(self.jumps)}")
        return SIGMA_W2 * self.slope_moment

    #: what the notebook display shows (names as in :data:`eoctheory.latex.QUANTITIES`)
    _SHOWN = ("sparsity", "second_moment", "variance", "dvariance", "d2variance", "chi1")

    def __repr__(self) -> str:
        def short(e: sp.Expr) -> str:
            text = str(e)
            return text if len(text) <= 90 else text[:87] + "..."

        head = (f"Derivation(params={self.params}, pieces={len(self.pieces)}, "
                f"jumps={len(self.jumps)})")
        return f"{head}\n  sparsity = {short(self.sparsity)}\n  dvariance = " \
               f"{short(self.dvariance)}"

    def _repr_latex_(self) -> str:
        r"""Jupyter: :math:`s, \mathbb{E}[\phi^2], V, V', V'', \chi_1` as printed by
        :func:`eoctheory.latex.paper_latex` (:math:`\chi_1` left out where :math:`\phi`
        jumps)."""
        from eoctheory.display import math_block
        from eoctheory.latex.printer import paper_latex
        from eoctheory.latex.quantities import LHS

        rows = []
        for name in self._SHOWN:
            if name == "chi1" and self.slope_moment is None:
                continue
            rows.append((LHS[name], paper_latex(getattr(self, name))))
        return math_block(rows)


def _to_q(expr: sp.Expr) -> sp.Expr:
    return expr.subs(_R, sp.sqrt(Q))


@lru_cache(maxsize=128)
def derive_expr(expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> Derivation:
    pieces = piecewise_intervals(expr, X)
    e2 = canonical(gaussian_expectation(pieces, X, _R, 2))
    d1 = canonical(sp.diff(e2, _R) / (2 * _R))
    d2 = canonical(sp.diff(d1, _R) / (2 * _R))
    dpieces = tuple(Piece(p.lo, p.hi, sp.diff(p.expr, X)) for p in pieces)
    jumps = []
    for left, right in zip(pieces[:-1], pieces[1:]):
        gap = sp.expand(left.expr.subs(X, left.hi) - right.expr.subs(X, right.lo))
        if gap != 0:
            jumps.append(left.hi)
    if jumps:
        s2 = s4 = None
    else:
        s2 = _to_q(canonical(gaussian_expectation(dpieces, X, _R, 2)))
        s4 = _to_q(canonical(gaussian_expectation(dpieces, X, _R, 4)))
    zero = sum((GaussMass(p.lo / _R if p.lo.is_finite else p.lo,
                          p.hi / _R if p.hi.is_finite else p.hi)
                for p in pieces if sp.expand(p.expr) == 0), sp.S.Zero)
    return Derivation(params, pieces, _to_q(e2), _to_q(d1), _to_q(d2), s2, s4,
                      _to_q(canonical(zero)), tuple(jumps))


def derive(activation: Activation | str) -> Derivation:
    r"""Derive every closed form of a piecewise-polynomial activation (cached).

    Raises
    ------
    ValueError
        (:class:`~eoctheory.engine.gaussian.NotPiecewisePolynomial`) if the activation is not a
        polynomial on finitely many intervals; such activations use quadrature instead.

    Examples
    --------
    >>> from eoctheory import derive
    >>> derive("relu").second_moment_d1            # V'(q) / sigma_w^2 for ReLU_tau
    GaussCDF(-tau/sqrt(q))
    """
    act = get_activation(activation)
    if act.expr is None:
        raise NotPiecewisePolynomial(f"activation {act.name!r} is a callable: no closed form")
    try:
        return derive_expr(act.expr, act.symbols)
    except NotPiecewisePolynomial:
        if not act.params:
            raise
    # breakpoints not orderable symbolically: derive at the activation's numeric values,
    # each the exact binary value of its float (what the other compiled maps and the oracle
    # see; a decimal reading of 0.2000001 moves a window 1e-7 wide by 1e-9 of its width)
    fixed = act.expr.subs({p.symbol: sp.Rational(float(act.values[p.name]))
                           for p in act.params})
    return derive_expr(fixed, ())


# --- compiled numeric maps -----------------------------------------------------------------

_QUANTITIES = ("second_moment", "second_moment_d1", "second_moment_d2", "slope_moment",
               "slope_moment4", "sparsity")


def _printer():
    """NumPy printer that writes small integer powers as products (x*x*x, 1/(x*x))."""
    from sympy.printing.numpy import NumPyPrinter

    class _FastPowPrinter(NumPyPrinter):
        def _print_Pow(self, expr, rational=False):
            base, exp = expr.as_base_exp()
            if exp.is_Integer and 2 <= abs(int(exp)) <= 6:
                b = self.parenthesize(base, 100)  # always bracket compound bases
                prod = "*".join([b] * abs(int(exp)))
                return f"({prod})" if exp > 0 else f"(1/({prod}))"
            return super()._print_Pow(expr, rational=rational)

    return _FastPowPrinter({"fully_qualified_modules": False, "inline": True,
                            "allow_unknown_functions": True, "user_functions": {}})


_CHUNK_CF = 16384  # points per chunk for large inputs (8 arrays of 128 KiB fit in L2)
_PDF = NUMPY_FUNCTIONS["GaussPDF"]
_CHUNK_SW = 16384  # points per chunk of the short-window rule (n x 16 node arrays)

#: Width :math:`w = W/\sqrt q` (in standard deviations of Z) below which a finite piece is
#: integrated by the short-window rule instead of its closed form. Measured for CReLU with
#: :math:`a = \tau/\sqrt q \in [0, 2.6]`: the closed forms of E[phi^2], V', V'' lose at most
#: 6e-14 (relative) for w >= 0.2, 5e-11 at w = 0.01 and 2e-4 at w = 1e-4.
SHORT_WIDTH = 0.25
#: Gauss-Legendre nodes of the short-window rule: the integrand is a polynomial in u times
#: :math:`\mathrm{He}_k(a+u)\varphi(a+u)`; on :math:`w \le 0.25` with :math:`|a| \le 38`
#: 16 nodes reach round-off (tested against mpmath in tests/engine/test_box.py).
SHORT_NODES = 16

# quantity -> (integrand piece builder name, Hermite order); the scale is 1/(2q)^(order/2)
_SHORT_SPEC = {"second_moment": ("phi2", 0), "second_moment_d1": ("phi2", 2),
               "second_moment_d2": ("phi2", 4), "slope_moment": ("dphi2", 0),
               "slope_moment4": ("dphi4", 0), "sparsity": ("zero", 0)}


def _integrand_pieces(pieces: tuple[Piece, ...], kind: str) -> tuple[Piece, ...]:
    def f(e):
        if kind == "phi2":
            return e**2
        if kind == "dphi2":
            return sp.diff(e, X) ** 2
        if kind == "dphi4":
            return sp.diff(e, X) ** 4
        return sp.S.One if sp.expand(e) == 0 else sp.S.Zero  # "zero": the sparsity
    return tuple(Piece(p.lo, p.hi, sp.expand(f(p.expr))) for p in pieces)


@lru_cache(maxsize=4)
def _short_rule(n: int = SHORT_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    t, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (t + 1.0), 0.5 * w


#: Points whose window has w (|a| + w + 3) <= 2.5 take 8 nodes: measured against mpmath,
#: 8 nodes stay at round-off (<= 2e-14 of the integral of the absolute integrand) there and
#: lose digits beyond (2e-12 at 3.8, a = 12, w = 0.25); 16 nodes hold to |a| = 36.
_FEW_NODES, _FEW_NODES_LIMIT = 8, 2.5


def _lam(args, e):
    # compiled in (q, r = sqrt(q)): q^(k/2) with k odd becomes q^((k-1)/2) r, and small
    # integer powers become products, so no pow() call and integer powers stay exact
    # only expressions the package built (or plain numbers): text is never compiled
    if isinstance(e, (int, float)) and not isinstance(e, bool):
        e = sp.Float(e) if isinstance(e, float) else sp.Integer(e)
    if not isinstance(e, sp.Basic):
        raise TypeError(f"_lam compiles SymPy expressions only (got {type(e).__name__})")
    e = e.replace(
        lambda x: x.is_Pow and x.base == Q and x.exp.is_Rational and x.exp.q == 2,
        lambda x: Q ** ((x.exp.p - 1) // 2) * _R)
    return sp.lambdify(args, e, modules=[NUMPY_FUNCTIONS, "numpy"], cse=True,
                       printer=_printer())


def _full(v: Any, n: int) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v if v.shape == (n,) else np.broadcast_to(v, (n,))


def _fold_mirrored(pieces: tuple[Piece, ...]) -> tuple[tuple[Piece, ...], float]:
    """For an even integrand (g(-x) = g(x) on every piece: CST's and ST's, squared), the
    pieces on x > 0 only and the factor 2 (E[g(sqrt q Z) He_2j(Z)] is then twice the
    half-line part); otherwise the pieces unchanged and 1."""
    neg = [p for p in pieces if p.hi.is_finite and _is_nonpositive(p.hi)]
    pos = [p for p in pieces if p.lo.is_finite and _is_nonpositive(-p.lo)]
    mid = [p for p in pieces if p not in neg and p not in pos]
    if len(mid) > 1 or len(neg) != len(pos):
        return pieces, 1.0
    if mid:  # a piece (-h, h) around 0: its half (0, h), if the integrand is even
        m = mid[0]
        if not (m.lo.is_finite and sp.expand(m.lo + m.hi) == 0
                and sp.expand(m.expr - m.expr.subs(X, -X)) == 0):
            return pieces, 1.0
        pos = [Piece(sp.S.Zero, m.hi, m.expr), *pos]
    for p in pos[1 if mid else 0:]:
        lo, hi = -p.hi, -p.lo
        match = [n for n in neg if _same(n.lo, lo) and _same(n.hi, hi)]
        if len(match) != 1 or sp.expand(match[0].expr - p.expr.subs(X, -X)) != 0:
            return pieces, 1.0
    return tuple(pos), 2.0


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    if not (a.is_finite and b.is_finite):
        return a == b
    return sp.expand(a - b) == 0


def _is_nonpositive(e: sp.Expr) -> bool:
    return e is sp.S.NegativeInfinity or bool(sp.expand(e).is_nonpositive)


class _ShortWindow:
    r"""One quantity as a sum over pieces, the short finite ones by Gauss-Legendre.

    .. math::

        \mathbb{E}[f(\sqrt q Z)\,\mathrm{He}_k(Z)] = T(q) + \sum_j \int_0^{w_j}
        f(\mathrm{lo}_j + \sqrt q\,u)\,\mathrm{He}_k(a_j + u)\,\varphi(a_j + u)\,du,
        \qquad a_j = \mathrm{lo}_j/\sqrt q,\ w_j = W_j/\sqrt q,

    with :math:`T` the closed form of the infinite pieces
    (:func:`~eoctheory.engine.gaussian.split_expectation`); a finite piece wider than
    :data:`SHORT_WIDTH` uses its own closed form. Derivatives in ``q`` come from the Hermite
    weights (THEORY.md §1): :math:`k = 2j` and a factor :math:`(2q)^{-j}`.
    """

    def __init__(self, pieces: tuple[Piece, ...], hermite: int, params: tuple):
        pieces, self.mult = _fold_mirrored(pieces)
        tail, parts = split_expectation(pieces, X, _R, hermite)
        args = (Q, _R, *params)
        self.tail = _lam(args, tail)
        self.parts = [(_lam(params, pt.lo), _lam(params, pt.width),
                       _lam((U, Q, _R, *params), pt.local), _lam(args, pt.closed))
                      for pt in parts]
        self.hermite = hermite

    def _weight(self, z: np.ndarray) -> np.ndarray:
        """He_k(z) pdf(z), k = 0, 2, 4."""
        w = _PDF(z)
        if self.hermite == 2:
            w *= z * z - 1.0
        elif self.hermite == 4:
            z2 = z * z
            w *= (z2 - 6.0) * z2 + 3.0
        return w

    def __call__(self, q: np.ndarray, pv: list[np.ndarray]) -> np.ndarray:
        """The quantity at flat ``q`` (1-D) and flat parameters of the same length."""
        out = np.empty(q.size)
        for i in range(0, q.size, _CHUNK_SW):  # cache-sized chunks: (n, 16) temporaries
            sl = slice(i, i + _CHUNK_SW)
            out[sl] = self._chunk(q[sl], [p[sl] if np.ndim(p) else p for p in pv])
        return out

    def _chunk(self, q: np.ndarray, pv: list) -> np.ndarray:
        n = q.size
        r = np.sqrt(q)
        total = self.mult * np.array(_full(self.tail(q, r, *pv), n), dtype=float)
        for lo, width, local, closed in self.parts:
            w = _full(width(*pv), n) / r
            a = _full(lo(*pv), n) / r
            short = w < SHORT_WIDTH
            if not short.all():
                wide = ~short
                total[wide] += self.mult * _full(
                    closed(q[wide], r[wide], *[p[wide] if np.ndim(p) else p for p in pv]),
                    int(wide.sum()))
                if not short.any():
                    continue
            few = w * (np.abs(a) + w + 3.0) <= _FEW_NODES_LIMIT
            groups = [(few & short, _FEW_NODES), (~few & short, SHORT_NODES)]
            for g, nodes in groups:
                if not g.any():
                    continue
                g = slice(None) if g.all() else g
                t, om = _short_rule(nodes)
                wk = w[g, None]
                u = wk * t
                z = a[g, None] + u
                f = local(u, q[g, None], r[g, None],
                          *[p[g, None] if np.ndim(p) else p for p in pv])
                total[g] += self.mult * wk[:, 0] * ((f * self._weight(z)) @ om)
        if self.hermite == 2:
            total /= 2.0 * q
        elif self.hermite == 4:
            total /= 4.0 * q * q
        return total


class _Quantity:
    """One compiled quantity: its closed form, and the short-window rule where it needs it."""

    def __init__(self, closed: sp.Expr, pieces: tuple[Piece, ...], hermite: int,
                 params: tuple):
        self.fn = _lam((Q, _R, *params), closed)
        self.pieces, self.hermite, self.params = pieces, hermite, params
        widths = []
        for p in pieces:
            if p.lo.is_finite and p.hi.is_finite and sp.expand(p.expr) != 0:
                w = sp.factor(sp.expand(p.hi - p.lo))
                if all(sp.expand(w - v) != 0 for v in widths):
                    widths.append(w)
        self.widths = [_lam(params, w) for w in widths]
        self._sw: _ShortWindow | None = None

    def short_window(self) -> _ShortWindow:
        if self._sw is None:  # derived on first use: most activations never need it
            self._sw = _ShortWindow(self.pieces, self.hermite, self.params)
        return self._sw

    def _narrow(self, q: np.ndarray, pv: list, shape: tuple) -> np.ndarray | None:
        """Flat mask of the points where some finite piece is narrower than SHORT_WIDTH."""
        if not self.widths:
            return None
        ws = [np.asarray(f(*pv), dtype=float) for f in self.widths]
        if all(w.ndim == 0 for w in ws):
            pos = [float(w) for w in ws if w > 0]
            if not pos:
                return None
            qc = (min(pos) / SHORT_WIDTH) ** 2  # w < SHORT_WIDTH  <=>  q > qc
            if not q.size or not q.max() > qc:
                return None
            return np.broadcast_to(q > qc, shape).ravel()
        r = np.sqrt(q)
        mask = np.zeros((), dtype=bool)
        for w in ws:
            mask = mask | ((w > 0) & (w < SHORT_WIDTH * r))
        mask = np.broadcast_to(mask, shape).ravel()
        return mask if mask.any() else None

    def _closed(self, q: np.ndarray, pv: list, shape: tuple) -> np.ndarray:
        fn = self.fn
        if q.size > _CHUNK_CF and all(np.ndim(p) == 0 for p in pv):
            # cache-sized chunks: the many temporaries of a closed form stay in L2
            flat = q.ravel()
            out = np.empty(flat.size)
            for i in range(0, flat.size, _CHUNK_CF):
                qc = flat[i:i + _CHUNK_CF]
                out[i:i + _CHUNK_CF] = fn(qc, np.sqrt(qc), *pv)
            return out.reshape(q.shape) if q.shape == shape else \
                np.broadcast_to(out.reshape(q.shape), shape).copy()
        out = np.asarray(fn(q, np.sqrt(q), *pv), dtype=float)
        return out if out.shape == shape else np.broadcast_to(out, shape).copy()

    def __call__(self, q: np.ndarray, pv: list, shape: tuple) -> np.ndarray:
        mask = self._narrow(q, pv, shape)
        if mask is None:
            return self._closed(q, pv, shape)
        qf = np.broadcast_to(q, shape).ravel()
        pf = [np.broadcast_to(np.asarray(p, dtype=float), shape).ravel() for p in pv]
        sw = self.short_window()
        if mask.all():
            return sw(qf, pf).reshape(shape)
        out = np.empty(qf.size)
        wide = ~mask
        out[wide] = self._closed(qf[wide], [p[wide] for p in pf], (int(wide.sum()),))
        out[mask] = sw(qf[mask], [p[mask] for p in pf])
        return out.reshape(shape)


def _check_finite(out: np.ndarray, name: str, q: np.ndarray, params: list) -> np.ndarray:
    """Accurate or an error: a NaN or an infinity never leaves the compiled maps."""
    if np.all(np.isfinite(out)):
        return out
    bad = np.argmax(~np.isfinite(np.ravel(out)))
    qb = float(np.ravel(np.broadcast_to(q, np.shape(out)))[bad])
    pb = [float(np.ravel(np.broadcast_to(p, np.shape(out)))[bad]) for p in params]
    raise ValueError(f"{name} is not representable in float64 at q = {qb!r}"
                     + (f" with parameters {pb}" if pb else "")
                     + " (an overflow or underflow of the closed form)")


class _ClosedForm:
    """Compiled closed forms f(q, *params) for each quantity, with the short-window rule."""

    kind = "closed form"

    def __init__(self, der: Derivation, fixed: bool):
        self.fixed = fixed
        self.fns: dict[str, _Quantity | None] = {}
        for name in _QUANTITIES:
            e = getattr(der, name)
            if e is None:
                self.fns[name] = None
                continue
            kind, hermite = _SHORT_SPEC[name]
            self.fns[name] = _Quantity(e, _integrand_pieces(der.pieces, kind), hermite,
                                       der.params)
        self.jumps = der.jumps

    def __call__(self, name: str, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        fn = self.fns[name]
        if fn is None:
            raise ValueError("chi_1 is infinite: the activation jumps at x = "
                             f"{[str(j) for j in self.jumps]}")
        pv = [] if self.fixed else params
        shape = np.broadcast_shapes(np.shape(q), *(np.shape(p) for p in params))
        return fn(q, pv, shape)


@lru_cache(maxsize=8)
def _gl_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


_ZMAX = 13.0  # pdf(13) ~ 1e-37: negligible against any moment up to z^8
_NODES = 240  # Gauss-Legendre points in t (smooth integrands: converged to round-off)
_CHUNK = 2048


def sinh_rule(scale: Any, n: int = _NODES, halves: bool = False,
              zmax: Any = _ZMAX) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights for :math:`\int g(z)\,\varphi(z)\,dz` on :math:`|z| <` ``zmax``.

    Gauss-Legendre in t with :math:`z = s\sinh t`: dense (spacing ~ ``scale``) near 0,
    geometric in the tails. ``scale`` (and ``zmax``) broadcast (shape ``(N, 1)`` gives one
    rule per row); the density :math:`\varphi(z)` is included in the weights. ``halves``: a
    rule of n/2 nodes on each side of 0, for integrands with a kink at z = 0.
    """
    s = np.asarray(scale, dtype=float)
    tmax = np.arcsinh(zmax / s)
    if halves:
        t0, w0 = _gl_rule(n // 2)
        t = 0.5 * tmax * (t0 + 1.0)
        z = s * np.sinh(t)
        w = 0.5 * tmax * w0 * s * np.cosh(t) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        return np.concatenate([-z, z], axis=-1), np.concatenate([w, w], axis=-1)
    t0, w0 = _gl_rule(n)
    t = tmax * t0
    z = s * np.sinh(t)
    return z, tmax * w0 * s * np.cosh(t) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


def _asymptote(f_mp: Callable, side: int) -> np.ndarray | None:
    r"""Coefficients (highest first) of a polynomial P of degree <= 2 with
    :math:`f(x) - P(x) \to 0` faster than any power as :math:`x \to` ``side`` :math:`\infty`.

    The quadratic through f at :math:`x = \pm10^8 (1, 2, 3)` at 60 digits, checked at
    :math:`\pm 5\cdot10^8` and :math:`\pm10^9` (agreement to 1e-30) and at
    :math:`|x| = 64, 128, 10^3` (relative remainder below 1e-17): None where any check fails.
    Coefficients below 1e-25 (fit noise) are zero. A numeric rule: the split it serves is
    exact for any P, P only has to leave a remainder that is negligible beyond |x| = 64.
    """
    import mpmath

    try:
        with mpmath.workdps(60):
            xs = [side * mpmath.mpf(10) ** 8 * k for k in (1, 2, 3)]
            c = mpmath.lu_solve(mpmath.matrix([[x * x, x, 1] for x in xs]),
                                mpmath.matrix([f_mp(x) for x in xs]))
            c = [v if abs(v) > mpmath.mpf(10) ** -25 else mpmath.mpf(0) for v in c]

            def P(x):
                return c[0] * x * x + c[1] * x + c[2]
            for x in (side * 5 * mpmath.mpf(10) ** 8, side * mpmath.mpf(10) ** 9):
                if abs(f_mp(x) - P(x)) > mpmath.mpf(10) ** -30 * max(1, abs(P(x))):
                    return None
            scale = max(abs(f_mp(mpmath.mpf(v))) for v in (-1, 0.5, 1)) + 1
            for x in (64, 128, 1000):
                if abs(f_mp(side * mpmath.mpf(x)) - P(side * mpmath.mpf(x))) > 1e-17 * scale:
                    return None
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return None
    return np.array([float(v) for v in c])


#: Largest q for the quadrature route without an asymptote split (callables, activations
#: with parameters or without polynomial asymptotes), by derivative order: measured on tanh
#: and GELU, V' loses ~eps q and V'' ~eps q^(3/2) (relative) to cancellation and the rule
#: stops resolving phi's own scale above ~1e10 (chi_1 of erf: 5e-11 at 1e10, 6e-7 at 1e20).
_Q_MAX_PLAIN = {0: 1e10, 1: 1e6, 2: 1e4}
#: The remainder phi^2 - A of a smooth activation is integrated over |x| < 64 only: it falls
#: faster than x^-8 (checked when A is derived; the cut then costs < 1e-13 relative), and
#: exponentially for the catalogue (tanh: sech^2(64) ~ 1e-55). The rule then resolves the
#: remainder's own scale at every q (over |z| < 13 it lost V'' of GELU at q = 1e50).
_XMAX_R = 64.0


# --- Piecewise activations with non-polynomial pieces: split at the breakpoints ----------

#: Scale of the graded rule on each piece, in units of :math:`\min(1, q^{-1/2})` (the
#: activation's own scale in z when that is ~1 in x): 0.3 also resolves pieces with a scale
#: ~0.1 in x (``m tanh((x - tau)/m)`` at m = 0.1) at round-off; see :func:`_piece_rule`.
_PW_SCALE = 0.3
#: Breakpoints are clipped to :math:`|z| \le` this (pdf(40) ~ 1e-348 underflows), and the two
#: outer pieces end at :math:`\max(13, |z_{\rm edge}| + 12)` (the Gaussian falls by 5e-32
#: over 12 beyond its edge, so that a tiny result keeps its relative accuracy).
_PW_ZCLIP, _PW_ZTAIL = 40.0, 12.0
_PW_WORK = 1 << 17  # nodes x rows per evaluation block (1 MiB per temporary)
_PW_CHUNK = 2048


def _pw_nodes(T: np.ndarray) -> np.ndarray:
    r"""Gauss-Legendre nodes per half-piece for a graded map of length T in t.

    Measured against the mpmath oracle on ``m tanh((x - tau)/m)`` (m = 0.1, 1, 10;
    q = 1e-4 to 1e10): E[phi^2], E[phi'^2] and V' reach 3e-13 with 24-40 nodes at
    T ~ 4, 48 at 6, 64 at 8.4 and 10.7, 88 at 15.3; this takes 8 ceil(T) + 8
    (40, 64, 80, 96, 136 there), a margin of about 1.5x."""
    return (8 * np.ceil(np.maximum(T, 1.0)) + 8).astype(int)


def _condition_roots(e: sp.Expr) -> tuple[list[sp.Expr], list[list[sp.Expr]]]:
    r"""Where ``e`` (the two sides of a relational, subtracted) can change sign, in x.

    Returns (roots, polys): SymPy roots in the parameters, and polynomial coefficient lists
    (highest first, degree >= 2: solved numerically per row). Every ``Abs`` and
    ``Piecewise`` inside ``e`` is replaced by each of its branches in turn (a superset of
    the sign changes: an extra breakpoint only splits a piece). Raises ValueError where
    SymPy cannot give a finite set of roots (periodic or transcendental conditions).
    """
    subs_sets = []
    for f in sorted(e.atoms(sp.Abs, sp.Piecewise), key=sp.default_sort_key):
        if not f.has(X):
            continue
        if isinstance(f, sp.Abs):
            subs_sets.append([(f, f.args[0]), (f, -f.args[0])])
        else:
            subs_sets.append([(f, b.expr) for b in f.args])
    variants = [e]
    for opts in subs_sets:
        variants = [v.xreplace({old: new}) for v in variants for old, new in opts]
        if len(variants) > 64:
            raise ValueError(f"condition {e} has too many branches to find its breakpoints")
    roots: list[sp.Expr] = []
    polys: list[list[sp.Expr]] = []
    for v in variants:
        v = sp.expand(v)
        if not v.has(X):
            continue
        if v.is_polynomial(X):
            coeffs = sp.Poly(v, X).all_coeffs()
            if len(coeffs) == 2:
                roots.append(sp.expand(sp.cancel(-coeffs[1] / coeffs[0])))
            else:
                polys.append(coeffs)
            continue
        if v.has(sp.sin, sp.cos):
            raise ValueError(f"the sign of {v} is periodic in x: its breakpoints cannot "
                             "be found; use conditions polynomial in x")
        try:
            sol = sp.solveset(v, X, sp.S.Reals)
        except Exception:  # NotImplementedError, TypeError, ...
            sol = None
        if isinstance(sol, sp.Intersection):
            fin = [a for a in sol.args if isinstance(a, sp.FiniteSet)]
            rest = [a for a in sol.args if not isinstance(a, sp.FiniteSet)]
            sol = fin[0] if len(fin) == 1 and all(a == sp.S.Reals for a in rest) else None
        if not isinstance(sol, sp.FiniteSet) or any(r.has(X) for r in sol):
            raise ValueError(f"cannot find where {v} changes sign in x "
                             "(SymPy gives no finite set of roots); use conditions "
                             "polynomial in x")
        roots.extend(sol)
    return roots, polys


class _Breakpoints:
    r"""The breakpoints of a ``Piecewise`` activation, compiled in its parameters.

    From every relational of the (normalised, :func:`~eoctheory.engine.gaussian.to_piecewise`)
    expression: its roots in x, once, in SymPy (linear ones exactly, others by
    ``solveset``), and the coefficients of its polynomial conditions of degree >= 2
    (solved per row, by the eigenvalues of the companion matrix). Evaluated per row of
    parameter values, non-real roots are dropped; the numeric order need not be known
    symbolically. ``zero(x, *params)`` is 1 where the branch that holds at x is
    identically 0 (SymPy) and 0 elsewhere: the pieces counted by the sparsity.
    """

    def __init__(self, pw: sp.Expr, params: tuple):
        from scipy import special

        mods = [NUMPY_FUNCTIONS, {"erfinv": special.erfinv, "erfcinv": special.erfcinv},
                "numpy"]
        roots: list[sp.Expr] = []
        polys: list[list[sp.Expr]] = []
        for rel in pw.atoms(sp.core.relational.Relational):
            r, p = _condition_roots(rel.lhs - rel.rhs)
            roots.extend(r)
            polys.extend(p)
        uniq: list[sp.Expr] = []
        for r in roots:
            if not any(sp.expand(r - u) == 0 for u in uniq):
                uniq.append(r)
        if not any(sp.expand(u) == 0 for u in uniq):
            uniq.append(sp.S.Zero)  # the activation's own scale is measured from x = 0
        self.count = len(uniq) + sum(len(c) - 1 for c in polys)
        self._roots = sp.lambdify(params, uniq, modules=mods)
        self._polys = [sp.lambdify(params, c, modules=mods) for c in polys]
        branches = pw.args if isinstance(pw, sp.Piecewise) else ((pw, sp.true),)
        ind = sp.Piecewise(*[(sp.S.One if sp.expand(e) == 0 else sp.S.Zero, c)
                             for e, c in branches])
        self.zero = sp.lambdify((X, *params), ind, modules=mods)
        self.any_zero = ind != 0

    def __call__(self, pv: list[np.ndarray], n: int) -> np.ndarray:
        """(n, count) breakpoints in x, NaN where a root is not real (order arbitrary)."""
        with np.errstate(all="ignore"):
            cols = [np.broadcast_to(np.asarray(v, dtype=complex), (n,))
                    for v in self._roots(*pv)]
            for f in self._polys:
                c = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n,))
                              for v in f(*pv)], axis=1)
                deg = c.shape[1] - 1
                lead = c[:, :1]
                comp = np.zeros((n, deg, deg))
                comp[:, 0, :] = -c[:, 1:] / np.where(lead == 0, np.nan, lead)
                comp[:, np.arange(1, deg), np.arange(deg - 1)] = 1.0
                bad = ~np.isfinite(comp).all(axis=(1, 2))
                comp[bad] = 0.0
                ev = np.linalg.eigvals(comp)
                ev[bad] = np.nan  # a lower degree at these values: a rare corner, dropped
                cols.extend(ev.T)
        b = np.stack(cols, axis=1) if cols else np.empty((n, 0), dtype=complex)
        real = np.abs(b.imag) <= 1e-10 * (1.0 + np.abs(b.real))
        out = np.where(real, b.real, np.nan)
        out[~np.isfinite(out)] = np.nan
        return out


def _piece_rule(a: np.ndarray, b: np.ndarray, s: np.ndarray, n: int
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights (density included) for :math:`\int_a^b g(z)\varphi(z)\,dz`.

    Each half of [a, b] by n Gauss-Legendre points in t, with :math:`z = a + s_a\sinh t` on
    the left and :math:`z = b - s_b\sinh t` on the right: dense at both breakpoints, where
    the pieces start, and geometric away from them. The scale at an end e is
    :math:`s_e = s\min(1, 1/|e|)` (the density's own scale there: a piece far out in the
    tail decays like :math:`e^{-|e| z}`). ``a``, ``b`` of shape (rows, pieces), ``s``
    (rows, 1); the result has shape (rows, pieces * 2n).
    """
    t0, w0 = _gl_rule(n)
    half = 0.5 * (b - a)
    out_z, out_w = [], []
    for e, sign in ((a, 1.0), (b, -1.0)):
        se = (s / np.maximum(1.0, np.abs(e)))[..., None]
        T = np.arcsinh(half[..., None] / se)
        t = 0.5 * T * (t0 + 1.0)
        out_z.append(e[..., None] + sign * se * np.sinh(t))
        out_w.append(0.5 * T * w0 * se * np.cosh(t))
    z = np.concatenate(out_z, axis=-1)
    w = np.concatenate(out_w, axis=-1) * _PDF(z)
    return z.reshape(z.shape[0], -1), w.reshape(w.shape[0], -1)


class _Quadrature:
    r"""E[g(sqrt(q) Z) w(Z)] by Gauss-Legendre in t with z = s sinh(t), s = min(1, q^-1/2)."""

    kind = "quadrature"

    def __init__(self, act: Activation):
        self.act = act
        self.smooth = False
        self._splits: dict[str, Any] = {}  # derived on first use
        self.breaks: _Breakpoints | None = None
        if act.expr is not None:
            args = (X, *act.symbols)
            mods = [NUMPY_FUNCTIONS, "numpy"]
            pw = to_piecewise(act.expr)
            self.smooth = not pw.has(sp.Piecewise)
            if not self.smooth:
                try:
                    self.breaks = _Breakpoints(pw, act.symbols)
                except ValueError as exc:
                    raise ValueError(f"activation {act.name!r}: {exc}") from None
            lam = lambda e: sp.lambdify(args, e, modules=mods)  # noqa: E731
            self.phi = lam(act.expr)
            self.dphi = lam(sp.diff(pw, X))
            if self.smooth:
                f2 = act.expr**2
                self.f2_dd = lam(sp.diff(f2, X, 2))
                self.f2_dddd = lam(sp.diff(f2, X, 4))
        else:
            self.phi = lambda x: act.func(x)
            self.dphi = lambda x: act.derivative(x)

    def _expect(self, g: Callable, q: np.ndarray, params: list[np.ndarray],
                hermite: int = 0, halves: bool = False, xmax: float = np.inf,
                skip_zero: bool = False) -> np.ndarray:
        """E[g(sqrt(q) Z) He(Z)], the integrand cut at |x| = xmax (where g is negligible).

        A ``Piecewise`` activation is integrated piece by piece (:meth:`_expect_pieces`);
        ``skip_zero``: g vanishes where the activation's branch is identically 0.
        """
        if self.breaks is not None and not halves and xmax == np.inf:
            return self._expect_pieces(g, q, params, hermite, skip_zero)
        shape = np.broadcast_shapes(q.shape, *(p.shape for p in params))
        qf = np.broadcast_to(q, shape).ravel()
        pf = [np.broadcast_to(p, shape).ravel() for p in params]
        out = np.empty(qf.size)
        for i in range(0, qf.size, _CHUNK):
            qc = qf[i:i + _CHUNK, None]
            zmax = np.minimum(_ZMAX, xmax / np.sqrt(qc))
            z, w = sinh_rule(np.minimum(1.0, 1.0 / np.sqrt(qc)), halves=halves, zmax=zmax)
            if hermite == 1:
                w = w * (z * z - 1.0)
            elif hermite == 2:
                z2 = z * z
                w = w * (z2 * z2 - 6.0 * z2 + 3.0)
            vals = g(np.sqrt(qc) * z, *[p[i:i + _CHUNK, None] for p in pf])
            out[i:i + _CHUNK] = np.sum(np.asarray(vals, dtype=float) * w, axis=1)
        return out.reshape(shape)

    def _flat(self, q: np.ndarray, params: list[np.ndarray]):
        shape = np.broadcast_shapes(q.shape, *(p.shape for p in params))
        qf = np.broadcast_to(q, shape).ravel()
        pf = [np.broadcast_to(np.asarray(p, dtype=float), shape).ravel() for p in params]
        return shape, qf, pf

    def _expect_pieces(self, g: Callable, q: np.ndarray, params: list[np.ndarray],
                       hermite: int, skip_zero: bool) -> np.ndarray:
        r"""E[g(sqrt(q) Z) He(Z)] as a sum over the pieces of a ``Piecewise`` activation.

        Per row, the breakpoints at its parameter values (and 0) in :math:`z = x/\sqrt q`,
        sorted, cut the line into pieces on which the integrand is smooth; each piece is
        integrated by :func:`_piece_rule` (graded from both ends at the scale
        :math:`s = 0.3\min(1, q^{-1/2})`), the two outer ones to
        :math:`\max(13, |z_{\rm edge}| + 12)`. Pieces whose branch is identically 0 are
        skipped when ``skip_zero``. Without the split a kink or a jump inside a rule's
        span cost digits: ``m tanh((x - tau)/m)`` off 0 on ``|x| >= tau`` lost 1e-5 in
        E[phi^2] with the whole-line rule; here E[phi^2], V', chi_1 are within ~1e-13 of the
        mpmath oracle (tests/engine/test_numeric_piecewise.py).
        """
        shape, qf, pf = self._flat(q, params)
        out = np.empty(qf.size)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i in range(0, qf.size, _PW_CHUNK):
                sl = slice(i, i + _PW_CHUNK)
                out[sl] = self._pieces_chunk(g, qf[sl], [p[sl] for p in pf], hermite,
                                             skip_zero)
        return out.reshape(shape)

    def _pieces_chunk(self, g: Callable, q: np.ndarray, pv: list[np.ndarray], hermite: int,
                      skip_zero: bool) -> np.ndarray:
        n = q.size
        r = np.sqrt(q)
        z = self.breaks(pv, n) / r[:, None]
        z = np.clip(z, -_PW_ZCLIP, _PW_ZCLIP)
        z = np.where(np.isnan(z), np.nanmax(z, axis=1, keepdims=True), z)  # 0 is a root
        z.sort(axis=1)
        lo = np.maximum(np.minimum(-_ZMAX, z[:, :1] - _PW_ZTAIL), -_PW_ZCLIP)
        hi = np.minimum(np.maximum(_ZMAX, z[:, -1:] + _PW_ZTAIL), _PW_ZCLIP)
        edges = np.concatenate([lo, z, hi], axis=1)
        a, b = edges[:, :-1], edges[:, 1:]
        active = b > a
        if skip_zero and self.breaks.any_zero:
            zf = self.breaks.zero(r[:, None] * (0.5 * (a + b)), *[p[:, None] for p in pv])
            active &= ~(np.broadcast_to(np.asarray(zf, dtype=float), a.shape) == 1.0)
        s = _PW_SCALE * np.minimum(1.0, 1.0 / r)[:, None]
        send = s / np.maximum(1.0, np.minimum(np.abs(a), np.abs(b)))  # see _piece_rule
        T = np.where(active, np.arcsinh(0.5 * (b - a) / send), 0.0)
        nodes = _pw_nodes(T.max(axis=1))
        out = np.zeros(n)
        for nn in np.unique(nodes):
            rows = np.flatnonzero(nodes == nn)
            cols = np.flatnonzero(active[rows].any(axis=0))
            if not cols.size:
                continue
            per = max(1, _PW_WORK // (cols.size * 2 * int(nn)))
            for j in range(0, rows.size, per):
                rr = rows[j:j + per]
                zz, ww = _piece_rule(a[rr][:, cols], b[rr][:, cols], s[rr], int(nn))
                ww *= np.repeat(active[rr][:, cols], 2 * int(nn), axis=1)
                if hermite == 1:
                    ww *= zz * zz - 1.0
                elif hermite == 2:
                    z2 = zz * zz
                    ww *= (z2 - 6.0) * z2 + 3.0
                vals = np.asarray(g(r[rr, None] * zz, *[p[rr, None] for p in pv]),
                                  dtype=float)
                vals = np.broadcast_to(vals, ww.shape)
                out[rr] = np.sum(np.where(ww != 0.0, vals * ww, 0.0), axis=1)
        return out

    def _sparsity_pieces(self, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        r""":math:`P(\phi(\sqrt q Z) = 0)`: the Gaussian masses (exact, :math:`\Phi`
        differences without cancellation) of the pieces whose branch is identically 0,
        between the breakpoints evaluated at each row's parameter values."""
        shape, qf, pf = self._flat(q, params)
        out = np.empty(qf.size)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i in range(0, qf.size, _PW_CHUNK):
                sl = slice(i, i + _PW_CHUNK)
                pv = [p[sl] for p in pf]
                r = np.sqrt(qf[sl])[:, None]
                x = self.breaks(pv, r.shape[0])
                x = np.where(np.isnan(x), np.nanmax(x, axis=1, keepdims=True), x)
                x.sort(axis=1)
                inf = np.full((x.shape[0], 1), np.inf)
                lo, hi = np.concatenate([-inf, x], axis=1), np.concatenate([x, inf], axis=1)
                rep = np.where(lo == -np.inf, hi - 1.0 - np.abs(hi),
                               np.where(hi == np.inf, lo + 1.0 + np.abs(lo), 0.5 * (lo + hi)))
                zf = np.broadcast_to(np.asarray(self.breaks.zero(rep, *[p[:, None] for p in pv]),
                                                dtype=float), lo.shape) == 1.0
                mass = NUMPY_FUNCTIONS["GaussMass"](lo / r, hi / r)
                out[sl] = np.sum(np.where(zf & (hi > lo), mass, 0.0), axis=1)
        return out.reshape(shape)

    def _d2_smooth(self, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        r"""d^2/dq^2 E[phi^2] for smooth phi, in the better-conditioned of two exact forms.

        q <= 1: Stein twice, E[(phi^2)^(4)(sqrt(q) Z)] / 4 (no cancellation as q -> 0).
        q > 1: Stein once and one Hermite weight, E[(phi^2)''(sqrt(q) Z) (Z^2 - 1)] / (4 q):
        for a saturating phi the integrand then cancels to one part in q instead of q^2.
        """
        shape = np.broadcast_shapes(q.shape, *(p.shape for p in params))
        qf = np.broadcast_to(q, shape).ravel()
        pf = [np.broadcast_to(p, shape).ravel() for p in params]
        out = np.empty(qf.size)
        big = qf > 1.0
        if (~big).any():
            sel = ~big
            out[sel] = 0.25 * self._expect(self.f2_dddd, qf[sel], [p[sel] for p in pf])
        if big.any():
            qs = qf[big]
            out[big] = self._expect(self.f2_dd, qs, [p[big] for p in pf], hermite=1) / (4 * qs)
        return out.reshape(shape)

    def _split(self, kind: str):
        r"""(R, [E[A He_0], E[A He_2], E[A He_4]] compiled in (q, r)) or None.

        ``g`` is the integrand (``kind``: phi^2, phi'^2 or phi'^4), A = P^p its asymptote,
        with P the polynomial asymptote of :math:`\phi` (or :math:`\phi'`) on each side of 0
        (:func:`_asymptote`: ``+-1`` for tanh, ``x`` and ``0`` for GELU and SiLU), and
        R = g - A the remainder, concentrated near 0. For parameter-free smooth SymPy
        activations; derived on first use (milliseconds) and cached.
        """
        if kind not in self._splits:
            self._splits[kind] = None
            if self.smooth and not self.act.params:
                from eoctheory.engine.gaussian import MPMATH_FUNCTIONS

                e = self.act.expr if kind == "phi2" else sp.diff(self.act.expr, X)
                f_mp = sp.lambdify(X, e, modules=[MPMATH_FUNCTIONS, "mpmath"])
                cp, cm = _asymptote(f_mp, 1), _asymptote(f_mp, -1)
                if cp is not None and cm is not None:
                    power = 4 if kind == "dphi4" else 2
                    ap = np.polynomial.polynomial.polypow(cp[::-1], power)[::-1]
                    am = np.polynomial.polynomial.polypow(cm[::-1], power)[::-1]

                    def poly(c):  # the exact binary value of each float coefficient
                        return sum(sp.Rational(float(v)) * X**i for i, v in
                                   enumerate(c[::-1]))
                    pieces = (Piece(sp.S.NegativeInfinity, sp.S.Zero, poly(am)),
                              Piece(sp.S.Zero, sp.S.Infinity, poly(ap)))
                    closed = [_lam((Q, _R), canonical(gaussian_expectation(
                        pieces, X, _R, 1, hermite=k))) for k in (0, 2, 4)]
                    f = self.phi if kind == "phi2" else self.dphi

                    def R(x, f=f, power=power, ap=ap, am=am):
                        return f(x) ** power - np.where(x > 0, np.polyval(ap, x),
                                                        np.polyval(am, x))
                    self._splits[kind] = (R, closed)
        return self._splits[kind]

    def _large_q(self, kind: str, order: int, q: np.ndarray) -> np.ndarray:
        r""":math:`\tfrac{d^j}{dq^j}\mathbb{E}[g(\sqrt q Z)]` (j = ``order``) at q > 1 from the
        split :math:`g = A + R`: the asymptote's part in closed form,
        :math:`\mathbb{E}[A\,\mathrm{He}_{2j}]/(2q)^j`, the remainder's by the sinh rule (in
        halves, A has a kink at 0; cut at :math:`|x| = 64`, so that the rule resolves R at
        every q). R is concentrated at :math:`|z| \lesssim q^{-1/2}`, where
        :math:`\mathrm{He}_{2j}(z) \approx \mathrm{He}_{2j}(0) \ne 0`: nothing cancels. (The
        Stein forms subtract to one part in q for V' and :math:`q^{3/2}` for V'': V' of tanh
        was off by 7e-3 at q = 1e12; and over :math:`|z| < 13` the rule missed the remainder's
        scale: chi_1 of erf off by 6e-7 at q = 1e20.)
        """
        R, closed = self._splits[kind]
        qf = q.ravel()
        out = np.asarray(closed[order](qf, np.sqrt(qf)), dtype=float) + \
            self._expect(R, qf, [], hermite=order, halves=True, xmax=_XMAX_R)
        return (out / (2.0 * qf) ** order).reshape(q.shape)

    def _plain(self, kind: str, order: int, q: np.ndarray, params: list) -> np.ndarray:
        """The same quantity by the sinh rule over the whole line (Stein forms if smooth)."""
        if kind != "phi2":
            power = 4 if kind == "dphi4" else 2
            return self._expect(lambda x, *p: self.dphi(x, *p) ** power, q, params,
                                skip_zero=True)
        phi2 = lambda x, *p: self.phi(x, *p) ** 2  # noqa: E731
        if order == 0:
            return self._expect(phi2, q, params, skip_zero=True)
        if order == 1:
            return 0.5 * self._expect(self.f2_dd, q, params) if self.smooth else \
                self._expect(phi2, q, params, hermite=1, skip_zero=True) / (2 * q)
        return self._d2_smooth(q, params) if self.smooth else \
            self._expect(phi2, q, params, hermite=2, skip_zero=True) / (4 * q * q)

    def _moment(self, kind: str, order: int, q: np.ndarray, params: list) -> np.ndarray:
        """E[g] or its q-derivatives, by the best-conditioned exact form at each q."""
        big = None
        if q.size and q.max() > 1.0:
            if self.smooth and not params and self._split(kind):
                big = q > 1.0
            elif q.max() > _Q_MAX_PLAIN[order] * (1 + 1e-12):  # a root verified at the edge
                raise ValueError(
                    f"q must be <= {_Q_MAX_PLAIN[order]:g} for this quantity of "
                    f"{self.act.name!r} (got {float(q.max())!r}): its quadrature cancels to "
                    "one part in q^(3/2) beyond; activations with polynomial asymptotes "
                    "(tanh, erf, GELU, SiLU) are accurate up to 1e100")
        if big is not None and big.all():
            return self._large_q(kind, order, q)
        out = self._plain(kind, order, q, params)
        if big is not None and big.any():
            out = np.array(out, dtype=float)
            out[big] = self._large_q(kind, order, q[big])
        return out

    def __call__(self, name: str, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        if name == "second_moment":
            return self._moment("phi2", 0, q, params)
        if name == "second_moment_d1":
            return self._moment("phi2", 1, q, params)
        if name == "second_moment_d2":
            return self._moment("phi2", 2, q, params)
        if name == "slope_moment":
            return self._moment("dphi2", 0, q, params)
        if name == "slope_moment4":
            return self._moment("dphi4", 0, q, params)
        if name == "sparsity":
            if self.smooth:
                return np.zeros(np.broadcast_shapes(q.shape, *(p.shape for p in params)))
            if self.breaks is not None:
                return self._sparsity_pieces(q, params)
            return self._expect(lambda x, *p: (self.phi(x, *p) == 0).astype(float), q, params)
        raise KeyError(name)


_CACHE: dict[Any, Any] = {}


def _build(act: Activation) -> Any:
    if act.expr is None:
        return _Quadrature(act)
    try:
        der = derive(act)
    except NotPiecewisePolynomial:
        return _Quadrature(act)
    return _ClosedForm(der, fixed=(der.params != act.symbols))


def compiled(activation: Activation) -> Any:
    """The compiled evaluator for ``activation`` (closed form or quadrature), cached.

    Closed forms are shared by every :class:`Activation` with the same expression; only
    when the breakpoints cannot be ordered symbolically is the derivation made at the
    activation's numeric parameter values (and cached per value).
    """
    act = activation
    key: Any = ("callable", act.func, act.dfunc) if act.expr is None else (act.expr, act.symbols)
    c = _CACHE.get(key)
    if c is None:
        c = _CACHE[key] = _build(act)
    if getattr(c, "fixed", False):
        vkey = (key, tuple(act.values.items()))
        c = _CACHE.get(vkey)
        if c is None:
            c = _CACHE[vkey] = _build(act)
    return c


#: Supported variances: every map refuses q outside [Q_MIN, Q_MAX] (ValueError). Inside,
#: V, V', V'' of the catalogue activations stay representable (their closed forms hold
#: products up to q^3, and V'' ~ 1/q^2 at large q) and are accurate: tested against the
#: mpmath oracle at both ends in tests/engine/test_box.py.
Q_MIN, Q_MAX = 1e-100, 1e100


def check_variance(q: Any, name: str = "q") -> np.ndarray:
    """``q`` as a float array, or ValueError naming ``name`` and the range [Q_MIN, Q_MAX]."""
    arr = np.asarray(q, dtype=float)
    if arr.size and not (arr.min() >= Q_MIN and arr.max() <= Q_MAX):  # NaN fails both
        bad = arr[~((arr >= Q_MIN) & (arr <= Q_MAX))] if arr.ndim else arr
        raise ValueError(f"{name} must be a finite variance in [1e-100, 1e100] "
                         f"(got {float(np.ravel(bad)[0])!r})")
    return arr





def check_sigma(value: Any, name: str, strict: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    ok = (arr > 0) if strict else (arr >= 0)
    if not np.all(ok & (arr < np.inf)):
        raise ValueError(f"{name} must be finite and {'> 0' if strict else '>= 0'} "
                         f"(got {float(np.ravel(arr[~(ok & (arr < np.inf))] if arr.ndim else arr)[0])!r})")
    return arr


def _resolved(activation: Activation | str, q: Any, params: dict):
    """Checked (activation, q, parameter arrays, compiled evaluator) for one call."""
    act = get_activation(activation)
    qa = check_variance(q)
    pvals = act.resolve(params)
    c = compiled(act)
    if getattr(c, "fixed", False) and params:
        if any(np.ndim(p) for p in pvals):
            raise ValueError(f"activation {act.name!r}: its breakpoints cannot be ordered "
                             "symbolically, so parameters must be scalars")
        act = act.with_values(**{k: float(v) for k, v in params.items()})
        c = compiled(act)
    return act, qa, pvals, c


def _eval(activation: Activation | str, quantity: str, q: Any, params: dict) -> np.ndarray:
    _, qa, pvals, c = _resolved(activation, q, params)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        out = c(quantity, qa, pvals)
    return _scalar_or_array(_check_finite(out, quantity, qa, pvals))


def _scalar_or_array(out: Any) -> Any:
    """The public maps' return type: ``numpy.float64`` when every input was a scalar (the
    NumPy ufunc convention; a subclass of ``float``), else an ndarray of the broadcast shape."""
    return np.asarray(out, dtype=float)[()]


_MOMENTS: dict[Any, Any] = {}


def gaussian_moment(activation: Activation | str, name: str,
                    integrand: Callable[[Any, Any], Any], q: Any,
                    **params: Any) -> np.float64 | np.ndarray:
    r""":math:`\mathbb{E}[g(\phi(\sqrt q Z), \phi'(\sqrt q Z))]` for a polynomial ``g``.

    ``integrand(f, df)`` must use arithmetic only, so that it works on SymPy expressions
    (piecewise-polynomial activations: an exact closed form from the truncated-Gaussian
    engine, derived once per ``name`` and cached) and on NumPy arrays (everything else: the
    same quadrature rule as the other maps). Used for :math:`\mathbb{E}[\phi^4]` in the
    finite-width model.

    Examples
    --------
    >>> from eoctheory.engine.maps import gaussian_moment
    >>> round(float(gaussian_moment("identity", "phi4", lambda f, df: f**4, 2.0)), 12)
    12.0
    """
    act, qa, pvals, c = _resolved(activation, q, params)
    if isinstance(c, _Quadrature):
        return _scalar_or_array(
            c._expect(lambda x, *p: integrand(c.phi(x, *p), c.dphi(x, *p)), qa, pvals))
    der = derive(act)
    key = (der.pieces, der.params, name)
    qty = _MOMENTS.get(key)
    if qty is None:
        pieces = tuple(Piece(p.lo, p.hi, sp.expand(integrand(p.expr, sp.diff(p.expr, X))))
                       for p in der.pieces)
        e = canonical(gaussian_expectation(pieces, X, _R, 1))
        qty = _MOMENTS[key] = _Quantity(e, pieces, 0, der.params)
    pv = [] if c.fixed else pvals
    shape = np.broadcast_shapes(qa.shape, *(np.shape(p) for p in pvals))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        out = qty(qa, pv, shape)
    return _scalar_or_array(_check_finite(out, name, qa, pvals))


def second_moment(activation: Activation | str, q: Any, **params: Any) -> np.float64 | np.ndarray:
    r""":math:`\mathbb{E}[\phi(\sqrt q Z)^2]`, the activation's second moment (App. B).

    Parameters
    ----------
    activation : Activation or str
    q : array_like
        Pre-activation variance(s), > 0.
    **params
        Activation parameters (e.g. ``tau``, ``m``); default to ``activation.values``.

    Examples
    --------
    >>> from eoctheory import second_moment
    >>> float(second_moment("identity", 2.5))
    2.5
    """
    return _eval(activation, "second_moment", q, params)


def second_moment_derivative(activation: Activation | str, q: Any, order: int = 1,
                             **params: Any) -> np.float64 | np.ndarray:
    r""":math:`\frac{d^k}{dq^k}\mathbb{E}[\phi(\sqrt q Z)^2]` for ``order`` k in {1, 2}."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2 (got {order!r})")
    return _eval(activation, f"second_moment_d{order}", q, params)


def slope_moment(activation: Activation | str, q: Any, **params: Any) -> np.float64 | np.ndarray:
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^2]` (so :math:`\chi_1 = \sigma_w^2` times this)."""
    return _eval(activation, "slope_moment", q, params)


def slope_moment4(activation: Activation | str, q: Any, **params: Any) -> np.float64 | np.ndarray:
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^4]` (so :math:`\mu_2 = \sigma_w^4` times this)."""
    return _eval(activation, "slope_moment4", q, params)


def sparsity(activation: Activation | str, q: Any, **params: Any) -> np.float64 | np.ndarray:
    r"""Expected sparsity :math:`s = P(\phi(\sqrt q Z) = 0)` (eq. 12).

    Examples
    --------
    >>> from eoctheory import sparsity
    >>> round(float(sparsity("relu", 1.0, tau=0.0)), 12)
    0.5
    """
    return _eval(activation, "sparsity", q, params)


def variance_map(activation: Activation | str, q: Any, sigma_w2: Any, sigma_b2: Any,
                 **params: Any) -> np.float64 | np.ndarray:
    r"""The variance (length) map :math:`V(q) = \sigma_w^2\mathbb{E}[\phi(\sqrt q Z)^2]+\sigma_b^2` (eq. 3).

    Parameters
    ----------
    activation : Activation or str
    q : array_like
        Input variance(s), > 0.
    sigma_w2 : array_like
        Weight variance :math:`\sigma_w^2 > 0`.
    sigma_b2 : array_like
        Bias variance :math:`\sigma_b^2 \ge 0`.
    **params
        Activation parameters; default to ``activation.values``.

    Examples
    --------
    >>> from eoctheory import variance_map
    >>> float(variance_map("identity", 1.5, sigma_w2=2.0, sigma_b2=0.25))
    3.25
    """
    sw2 = check_sigma(sigma_w2, "sigma_w2", True)
    sb2 = check_sigma(sigma_b2, "sigma_b2", False)
    return sw2 * _eval(activation, "second_moment", q, params) + sb2


def variance_slope(activation: Activation | str, q: Any, sigma_w2: Any,
                   **params: Any) -> np.float64 | np.ndarray:
    r"""Slope of the variance map, :math:`V'(q) = \sigma_w^2\,\tfrac{d}{dq}\mathbb{E}[\phi(\sqrt q Z)^2]` (eq. 13).

    Independent of :math:`\sigma_b^2`. Equals :math:`\frac{\sigma_w^2}{2q}\mathbb{E}[\phi^2(Z^2-1)]`.
    """
    sw2 = check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "second_moment_d1", q, params)


def variance_curvature(activation: Activation | str, q: Any, sigma_w2: Any,
                       **params: Any) -> np.float64 | np.ndarray:
    r"""Curvature of the variance map, :math:`V''(q)` (eq. 40 for ReLU_tau).

    Equals :math:`\frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi^2(Z^4-6Z^2+3)]`.
    """
    sw2 = check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "second_moment_d2", q, params)


def chi1(activation: Activation | str, q: Any, sigma_w2: Any,
         **params: Any) -> np.float64 | np.ndarray:
    r"""Slope of the correlation map at 1, :math:`\chi_1 = \sigma_w^2\mathbb{E}[\phi'(\sqrt q Z)^2]` (eq. 11, 19).

    Examples
    --------
    >>> from eoctheory import chi1
    >>> float(chi1("relu", 1.0, sigma_w2=2.0, tau=0.0))
    1.0
    """
    sw2 = check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "slope_moment", q, params)
