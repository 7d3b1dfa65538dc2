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
(callables and piecewise non-polynomial expressions):

.. math::

    V'(q) = \frac{\sigma_w^2}{2q}\mathbb{E}[\phi^2 (Z^2-1)],\qquad
    V''(q) = \frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi^2 (Z^4-6Z^2+3)].

All functions broadcast over ``q``, ``sigma_w2``, ``sigma_b2`` and every activation
parameter, and check their inputs (``ValueError`` naming the parameter).

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
    _to_piecewise,
    canonical,
    gaussian_expectation,
    piecewise_intervals,
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


def _to_q(expr: sp.Expr) -> sp.Expr:
    return expr.subs(_R, sp.sqrt(Q))


@lru_cache(maxsize=128)
def _derive_expr(expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> Derivation:
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
        return _derive_expr(act.expr, act.symbols)
    except NotPiecewisePolynomial:
        if not act.params:
            raise
    # breakpoints not orderable symbolically: derive at the activation's numeric values
    fixed = act.expr.subs({p.symbol: sp.nsimplify(act.values[p.name], rational=True)
                           for p in act.params})
    return _derive_expr(fixed, ())


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


class _ClosedForm:
    """lambdified closed forms: f(q, *params) for each quantity."""

    kind = "closed form"

    def __init__(self, der: Derivation, fixed: bool):
        self.fixed = fixed
        # compiled in (q, r = sqrt(q)): q^(k/2) with k odd becomes q^((k-1)/2) r, and small
        # integer powers become products, so no pow() call and integer powers stay exact
        args = (Q, _R, *der.params)
        self.fns: dict[str, Callable | None] = {}
        for name in _QUANTITIES:
            e = getattr(der, name)
            if e is not None:
                e = e.replace(lambda x: x.is_Pow and x.base == Q and x.exp.is_Rational
                              and x.exp.q == 2,
                              lambda x: Q ** ((x.exp.p - 1) // 2) * _R)
            self.fns[name] = None if e is None else sp.lambdify(
                args, e, modules=[NUMPY_FUNCTIONS, "numpy"], cse=True, printer=_printer())
        self.jumps = der.jumps

    def __call__(self, name: str, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        fn = self.fns[name]
        if fn is None:
            raise ValueError("chi_1 is infinite: the activation jumps at x = "
                             f"{[str(j) for j in self.jumps]}")
        pv = [] if self.fixed else params
        if q.size > _CHUNK_CF and all(np.ndim(p) == 0 for p in pv):
            # cache-sized chunks: the many temporaries of a closed form stay in L2
            flat = q.ravel()
            out = np.empty(flat.size)
            for i in range(0, flat.size, _CHUNK_CF):
                qc = flat[i:i + _CHUNK_CF]
                out[i:i + _CHUNK_CF] = fn(qc, np.sqrt(qc), *pv)
            return out.reshape(q.shape)
        out = fn(q, np.sqrt(q), *pv)
        shape = np.broadcast_shapes(np.shape(q), *(np.shape(p) for p in params))
        out = np.asarray(out, dtype=float)
        return out if out.shape == shape else np.broadcast_to(out, shape).copy()


@lru_cache(maxsize=8)
def _gl_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


_ZMAX = 13.0  # pdf(13) ~ 1e-37: negligible against any moment up to z^8
_NODES = 240  # Gauss-Legendre points in t (smooth integrands: converged to round-off)
_CHUNK = 2048


def sinh_rule(scale: Any, n: int = _NODES) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights for :math:`\int g(z)\,\varphi(z)\,dz` on :math:`|z| < 13`.

    Gauss-Legendre in t with :math:`z = s\sinh t`: dense (spacing ~ ``scale``) near 0,
    geometric in the tails. ``scale`` broadcasts (shape ``(N, 1)`` gives one rule per row);
    the density :math:`\varphi(z)` is included in the weights.
    """
    t0, w0 = _gl_rule(n)
    s = np.asarray(scale, dtype=float)
    tmax = np.arcsinh(_ZMAX / s)
    t = tmax * t0
    z = s * np.sinh(t)
    return z, tmax * w0 * s * np.cosh(t) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)


class _Quadrature:
    r"""E[g(sqrt(q) Z) w(Z)] by Gauss-Legendre in t with z = s sinh(t), s = min(1, q^-1/2)."""

    kind = "quadrature"

    def __init__(self, act: Activation):
        self.act = act
        self.smooth = False
        if act.expr is not None:
            args = (X, *act.symbols)
            mods = [NUMPY_FUNCTIONS, "numpy"]
            pw = _to_piecewise(act.expr)
            self.smooth = not pw.has(sp.Piecewise)
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
                hermite: int = 0) -> np.ndarray:
        shape = np.broadcast_shapes(q.shape, *(p.shape for p in params))
        qf = np.broadcast_to(q, shape).ravel()
        pf = [np.broadcast_to(p, shape).ravel() for p in params]
        out = np.empty(qf.size)
        for i in range(0, qf.size, _CHUNK):
            qc = qf[i:i + _CHUNK, None]
            z, w = sinh_rule(np.minimum(1.0, 1.0 / np.sqrt(qc)))
            if hermite == 1:
                w = w * (z * z - 1.0)
            elif hermite == 2:
                z2 = z * z
                w = w * (z2 * z2 - 6.0 * z2 + 3.0)
            vals = g(np.sqrt(qc) * z, *[p[i:i + _CHUNK, None] for p in pf])
            out[i:i + _CHUNK] = np.sum(np.asarray(vals, dtype=float) * w, axis=1)
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

    def __call__(self, name: str, q: np.ndarray, params: list[np.ndarray]) -> np.ndarray:
        phi2 = lambda x, *p: self.phi(x, *p) ** 2  # noqa: E731
        if name == "second_moment":
            return self._expect(phi2, q, params)
        if name == "second_moment_d1":
            if self.smooth:
                return 0.5 * self._expect(self.f2_dd, q, params)
            return self._expect(phi2, q, params, hermite=1) / (2 * q)
        if name == "second_moment_d2":
            if self.smooth:
                return self._d2_smooth(q, params)
            return self._expect(phi2, q, params, hermite=2) / (4 * q * q)
        if name == "slope_moment":
            return self._expect(lambda x, *p: self.dphi(x, *p) ** 2, q, params)
        if name == "slope_moment4":
            return self._expect(lambda x, *p: self.dphi(x, *p) ** 4, q, params)
        if name == "sparsity":
            if self.smooth:
                return np.zeros(np.broadcast_shapes(q.shape, *(p.shape for p in params)))
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


def _check_q(q: Any, name: str = "q") -> np.ndarray:
    arr = np.asarray(q, dtype=float)
    if arr.size and not (arr.min() > 0 and arr.max() < np.inf):  # NaN fails both
        bad = arr[~((arr > 0) & (arr < np.inf))] if arr.ndim else arr
        raise ValueError(f"{name} must be a finite variance > 0 (got {np.ravel(bad)[0]!r})")
    return arr


def _check_sigma(value: Any, name: str, strict: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    ok = (arr > 0) if strict else (arr >= 0)
    if not np.all(ok & (arr < np.inf)):
        raise ValueError(f"{name} must be finite and {'> 0' if strict else '>= 0'} "
                         f"(got {np.ravel(arr[~(ok & (arr < np.inf))] if arr.ndim else arr)[0]!r})")
    return arr


def _resolved(activation: Activation | str, q: Any, params: dict):
    """Checked (activation, q, parameter arrays, compiled evaluator) for one call."""
    act = get_activation(activation)
    qa = _check_q(q)
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
    return c(quantity, qa, pvals)


_MOMENTS: dict[Any, Any] = {}


def gaussian_moment(activation: Activation | str, name: str,
                    integrand: Callable[[Any, Any], Any], q: Any,
                    **params: Any) -> np.ndarray:
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
        return c._expect(lambda x, *p: integrand(c.phi(x, *p), c.dphi(x, *p)), qa, pvals)
    der = derive(act)
    key = (der.pieces, der.params, name)
    fn = _MOMENTS.get(key)
    if fn is None:
        pieces = tuple(Piece(p.lo, p.hi, sp.expand(integrand(p.expr, sp.diff(p.expr, X))))
                       for p in der.pieces)
        e = canonical(gaussian_expectation(pieces, X, _R, 1))
        fn = _MOMENTS[key] = sp.lambdify((_R, *der.params), e,
                                         modules=[NUMPY_FUNCTIONS, "numpy"], cse=True,
                                         printer=_printer())
    out = fn(np.sqrt(qa), *([] if c.fixed else pvals))
    shape = np.broadcast_shapes(qa.shape, *(np.shape(p) for p in pvals))
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def second_moment(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
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
                             **params: Any) -> np.ndarray:
    r""":math:`\frac{d^k}{dq^k}\mathbb{E}[\phi(\sqrt q Z)^2]` for ``order`` k in {1, 2}."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2 (got {order!r})")
    return _eval(activation, f"second_moment_d{order}", q, params)


def slope_moment(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^2]` (so :math:`\chi_1 = \sigma_w^2` times this)."""
    return _eval(activation, "slope_moment", q, params)


def slope_moment4(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
    r""":math:`\mathbb{E}[\phi'(\sqrt q Z)^4]` (so :math:`\mu_2 = \sigma_w^4` times this)."""
    return _eval(activation, "slope_moment4", q, params)


def sparsity(activation: Activation | str, q: Any, **params: Any) -> np.ndarray:
    r"""Expected sparsity :math:`s = P(\phi(\sqrt q Z) = 0)` (eq. 12).

    Examples
    --------
    >>> from eoctheory import sparsity
    >>> round(float(sparsity("relu", 1.0, tau=0.0)), 12)
    0.5
    """
    return _eval(activation, "sparsity", q, params)


def variance_map(activation: Activation | str, q: Any, sigma_w2: Any, sigma_b2: Any,
                 **params: Any) -> np.ndarray:
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
    sw2 = _check_sigma(sigma_w2, "sigma_w2", True)
    sb2 = _check_sigma(sigma_b2, "sigma_b2", False)
    return sw2 * _eval(activation, "second_moment", q, params) + sb2


def variance_slope(activation: Activation | str, q: Any, sigma_w2: Any,
                   **params: Any) -> np.ndarray:
    r"""Slope of the variance map, :math:`V'(q) = \sigma_w^2\,\tfrac{d}{dq}\mathbb{E}[\phi(\sqrt q Z)^2]` (eq. 13).

    Independent of :math:`\sigma_b^2`. Equals :math:`\frac{\sigma_w^2}{2q}\mathbb{E}[\phi^2(Z^2-1)]`.
    """
    sw2 = _check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "second_moment_d1", q, params)


def variance_curvature(activation: Activation | str, q: Any, sigma_w2: Any,
                       **params: Any) -> np.ndarray:
    r"""Curvature of the variance map, :math:`V''(q)` (eq. 40 for ReLU_tau).

    Equals :math:`\frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi^2(Z^4-6Z^2+3)]`.
    """
    sw2 = _check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "second_moment_d2", q, params)


def chi1(activation: Activation | str, q: Any, sigma_w2: Any, **params: Any) -> np.ndarray:
    r"""Slope of the correlation map at 1, :math:`\chi_1 = \sigma_w^2\mathbb{E}[\phi'(\sqrt q Z)^2]` (eq. 11, 19).

    Examples
    --------
    >>> from eoctheory import chi1
    >>> float(chi1("relu", 1.0, sigma_w2=2.0, tau=0.0))
    1.0
    """
    sw2 = _check_sigma(sigma_w2, "sigma_w2", True)
    return sw2 * _eval(activation, "slope_moment", q, params)
