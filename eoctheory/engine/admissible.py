r"""Which activations the engine can treat right, and the one-line refusal of the others.

Two checks, both run when an activation is made from an expression
(:meth:`~eoctheory.engine.activations.Activation.from_expr`,
:meth:`~eoctheory.engine.activations.Activation.from_string`):

* :func:`check_expression`, on the form alone (every :class:`Activation` with an expression
  runs it, the catalogue included): the whitelist of :mod:`eoctheory.engine.expr` (numbers,
  ``x``, parameters, ``+ * **`` with small rational exponents, its functions), with its
  bounds on degree and pieces, for SymPy objects a programmer built;
* :func:`check_activation`, at parameter values: defined, real and finite everywhere,
  growing at most like :math:`e^{c|x|}`, and continuous except for jumps the exact
  piecewise-polynomial route handles (it reports :math:`\chi_1 = \infty`).

"Right" means: accurate or an error. The quadrature route cannot see a jump (it would
return a finite :math:`\chi_1` for an activation whose :math:`\chi_1` is infinite), nor a
singular :math:`\phi'` (``sqrt(x)`` at 0), nor an infinite :math:`\mathbb{E}[\phi^2]`
(``exp(x**2)``); these are refused rather than computed.

Examples
--------
>>> from eoctheory import Activation
>>> Activation.from_string("Piecewise((0, x**2 < 1), (x, True))")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: activation 'custom': jumps at x = -1 by 1 (from -1 to 0); only a polynomial ...
>>> Activation.from_string("Piecewise((x, x > 0), (exp(x) - 1, True))", name="elu").name
'elu'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from eoctheory.engine.expr import (
    FUNCTIONS,
    MAX_DEGREE,
    MAX_EXPONENT,
    MAX_NODES,
    MAX_NUMBER,
    MAX_PIECES,
    MIN_NUMBER,
    X,
)
from eoctheory.engine.gaussian import NotPiecewisePolynomial, to_piecewise, piecewise_intervals

if TYPE_CHECKING:  # pragma: no cover
    from eoctheory.engine.activations import Activation

__all__ = ["CHECK_SECONDS", "check_expression", "check_activation"]

_FUNCTION_TYPES = tuple(f for f in set(FUNCTIONS.values()) if isinstance(f, type))
_RELATIONS = (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)
_LOGIC = (sp.And, sp.Or, sp.Not, sp.logic.boolalg.BooleanTrue, sp.logic.boolalg.BooleanFalse)
_PAIR = sp.functions.elementary.piecewise.ExprCondPair
_ALLOWED_FUNCTIONS = ", ".join(n for n in FUNCTIONS if n not in ("max", "min", "abs"))
#: Seconds :func:`check_activation` may spend before it gives up (checked between steps).
CHECK_SECONDS = 10.0
_JUMP_TOL = 1e-80  # relative, at 100 digits; see _check_continuity


def _short(e: Any, limit: int = 60) -> str:
    t = str(e)
    return t if len(t) <= limit else t[: limit - 3] + "..."


def check_expression(expr: sp.Expr, name: str = "custom") -> None:
    r"""Refuse an expression whose form the engine cannot treat (no parameter values needed).

    Allowed: ``x`` and parameter symbols; finite numbers of magnitude 0 or in
    ``[1e-12, 1e12]``; :math:`\pi`, :math:`e`; ``+``, ``*`` and powers with a rational
    exponent ``p`` (``|p| <= 8``, denominator ``<= 8``); the functions of
    :data:`eoctheory.engine.expr.FUNCTIONS`; ``Piecewise`` conditions made of ``< <= > >=``
    and ``&``, ``|``, ``~``. Refused: complex or non-finite numbers (``I``, ``nan``,
    ``zoo``, ``oo``), any other function (``floor``, ``gamma``, an undefined ``f(x)``), a
    polynomial degree above 8 and more than 64 pieces once ``Max``/``Min``/``Abs``/
    ``Piecewise`` are unfolded (the bounds of :mod:`eoctheory.engine.expr`).

    Raises
    ------
    ValueError
        One line naming the construct and what is allowed.
    """
    if not isinstance(expr, sp.Expr):
        raise ValueError(f"activation {name!r} must be an expression in x, got "
                         f"{type(expr).__name__}")

    def refuse(what: str) -> ValueError:
        return ValueError(f"activation {name!r}: {what}")

    stack, count = [expr], 0
    while stack:
        e = stack.pop()
        count += 1
        if count > 4 * MAX_NODES:
            raise refuse(f"the expression is too large (more than {4 * MAX_NODES} nodes)")
        if isinstance(e, sp.Symbol):
            continue
        if e is sp.zoo:
            raise refuse("zoo (complex infinity) is not a finite real number (activations are "
                         "real and finite)")
        if e.is_Number:
            if e.is_finite is not True or not e.is_real:
                raise refuse(f"{e} is not a finite real number (activations are real and "
                             "finite)")
            if abs(e) > MAX_NUMBER or (e != 0 and abs(e) < MIN_NUMBER):
                raise refuse(f"the number {float(e):.3g} is out of range: numbers must be 0 "
                             "or of magnitude between 1e-12 and 1e12")
            continue
        if e is sp.pi or e is sp.E:
            continue
        if e is sp.I:
            raise refuse("the imaginary unit I: activations are real")
        if e.is_NumberSymbol:
            raise refuse(f"the constant {e} is not supported (pi and E are)")
        if isinstance(e, sp.Pow):
            p = e.exp
            if not (p.is_Rational and abs(p) <= MAX_EXPONENT and p.q <= MAX_EXPONENT):
                raise refuse(f"the power {_short(e, 40)} is not supported: exponents must be "
                             f"integers or fractions p/q with |p/q| <= {MAX_EXPONENT}, "
                             f"q <= {MAX_EXPONENT}")
            if e.base.is_number and e.base.is_negative and not p.is_integer:
                raise refuse(f"{_short(e, 40)} is complex (activations are real)")
            stack.append(e.base)
        elif isinstance(e, (sp.Add, sp.Mul, _PAIR) + _FUNCTION_TYPES + _RELATIONS + _LOGIC):
            if isinstance(e, (sp.Max, sp.Min)) and len(e.args) > 8:
                raise refuse(f"{type(e).__name__} of {len(e.args)} arguments (at most 8)")
            stack.extend(e.args)
        else:
            what = type(e).__name__ if not isinstance(e, sp.Function) else str(e.func)
            raise refuse(f"{_short(what, 30)} is not supported; allowed are numbers, x, "
                         f"parameters, pi, E, + - * / ** and {_ALLOWED_FUNCTIONS}, with "
                         "< <= > >= & | ~ in Piecewise conditions")
    try:
        _size(expr, {}, refuse)
    except RecursionError:
        raise refuse("the expression is too deeply nested") from None


def _size(e: sp.Basic, memo: dict, refuse: Callable[[str], ValueError]) -> tuple[float, int]:
    """(polynomial degree bound in x, pieces bound once Max/Min/Abs/Piecewise unfold)."""
    if e in memo:
        return memo[e]
    if isinstance(e, sp.Symbol):
        out = (1.0 if e.name == "x" else 0.0, 1)
    elif not e.args:
        out = (0.0, 1)
    else:
        subs = [_size(a, memo, refuse) for a in e.args]
        degs = [d for d, _ in subs]
        prod = math.prod(n for _, n in subs)
        if isinstance(e, sp.Mul):
            out = (sum(degs), prod)
        elif isinstance(e, sp.Pow):
            out = (degs[0] * abs(float(e.exp)), subs[0][1])
        elif isinstance(e, sp.Piecewise):
            out = (max(degs), sum(n for _, n in subs))
        elif isinstance(e, _PAIR):
            out = (degs[0], prod)
        elif isinstance(e, (sp.Max, sp.Min)):
            out = (max(degs), len(e.args) * prod)
        elif isinstance(e, sp.Abs):
            out = (degs[0], 2 * prod)
        elif isinstance(e, (sp.sign, sp.Heaviside)):
            out = (0.0, 3 * subs[0][1])
        elif isinstance(e, (sp.Add,) + _RELATIONS + _LOGIC):
            out = (max(degs), prod)
        else:  # exp, log, erf, erfc, tanh, sin, cos: bounded degree, args checked
            out = (0.0, prod)
    if out[0] > MAX_DEGREE:
        raise refuse(f"{_short(e, 40)} has polynomial degree {out[0]:g} (at most {MAX_DEGREE})")
    if out[1] > MAX_PIECES:
        raise refuse(f"{_short(e, 40)} unfolds into up to {out[1]} pieces (at most "
                     f"{MAX_PIECES})")
    memo[e] = out
    return out


class _Refusal(ValueError):
    """Internal: the reason; :func:`check_activation` adds the activation and parameters."""


def check_activation(act: Activation, allow_jumps: bool = True,
                     seconds: float = CHECK_SECONDS) -> None:
    r"""Refuse an activation the engine cannot treat right (it would give wrong numbers).

    Checked at the activation's parameter values and at a second point (each value moved
    by :math:`0.5 + |v|/4`, within its range), since continuity and domains may depend on
    the parameters:

    * **defined and real everywhere**: every ``x`` falls in a ``Piecewise`` branch; the
      argument of ``log`` and the base of a fractional power (``sqrt``) are > 0, the base
      of a negative power is nonzero, on the closure of the piece where they are used
      (so that :math:`\phi` and :math:`\phi'` are finite: ``sqrt(x)`` on ``x >= 0`` is
      refused, as :math:`\chi_1 = \mathbb{E}[\phi'^2]` is infinite);
    * **growth**: :math:`|\phi(x)|` at most :math:`C e^{c|x|}` (``exp(x**2)`` would make
      :math:`\mathbb{E}[\phi(\sqrt q Z)^2]` infinite); a negative power needs a base that
      stays away from 0 as :math:`|x| \to \infty` (``1/erfc(x)`` is refused);
    * **continuity**: a jump is accepted only on the exact route (a polynomial on each of
      finitely many intervals with conditions linear in ``x``), where the engine reports
      :math:`\chi_1 = \infty`, and only if ``allow_jumps``; elsewhere (``x**2 < 1``
      conditions, non-polynomial pieces) quadrature would miss the jump's point mass in
      :math:`\phi'` and return a finite, wrong :math:`\chi_1`;
    * **numbers**: :math:`\phi`, :math:`\phi^2` and :math:`\phi'` are finite in float64 on
      ``[-10, 10]`` (``exp(1e3*x)`` is refused).

    Breakpoints come from ``Relational.as_set`` and domains from ``solveset``; a condition
    or domain they cannot decide is refused rather than guessed. The check gives up after
    ``seconds`` (measured between steps).

    Raises
    ------
    ValueError
        One line naming the activation, what is wrong, where, and at which parameter values.
    """
    if act.expr is None:
        return
    deadline = time.monotonic() + seconds
    points = _sample_values(act)
    for vals in points:
        at = _at(vals)
        fixed = act.expr.xreplace({p.symbol: sp.nsimplify(vals[p.name], rational=True)
                                   for p in act.params})
        try:
            try:
                pieces = piecewise_intervals(fixed, X)
            except NotPiecewisePolynomial:
                pieces = None
            _tick(deadline, seconds)
            if pieces is not None:
                _check_exact(fixed, pieces, allow_jumps)
            else:
                _check_general(fixed, deadline, seconds)
        except _Refusal as exc:
            raise ValueError(f"activation {act.name!r}: {exc}{at}") from None
    _check_numbers(act, points)


def _at(vals: dict[str, float]) -> str:
    return " (at " + ", ".join(f"{k}={v:g}" for k, v in vals.items()) + ")" if vals else ""


def _tick(deadline: float, seconds: float) -> None:
    if time.monotonic() > deadline:
        raise _Refusal(f"checking the activation took more than {seconds:g} s; write it "
                       "more simply")


def _sample_values(act: Activation) -> list[dict[str, float]]:
    base = dict(act.values)
    if not act.params:
        return [base]
    other = {}
    for p in act.params:
        v = base[p.name]
        w = v + 0.5 + 0.25 * abs(v)
        other[p.name] = w if w <= p.upper else (v + p.upper) / 2
    return [base, other]


def _check_exact(fixed: sp.Expr, pieces: tuple, allow_jumps: bool) -> None:
    """Polynomial pieces: defined at every breakpoint; jumps only if allowed."""
    pw = to_piecewise(fixed)
    for left, right in zip(pieces[:-1], pieces[1:]):
        b = left.hi
        val = pw.subs(X, b)
        if val.has(sp.nan) or val.is_finite is False:
            raise _Refusal(f"is undefined at x = {_short(b, 30)}: no Piecewise branch "
                           "applies there (end with a (value, True) branch)")
        if not allow_jumps:
            gap = sp.expand(left.expr.subs(X, b) - right.expr.subs(X, b))
            if gap != 0:
                raise _Refusal(f"jumps at x = {_short(b, 30)} (by {_short(gap, 30)}); "
                               "discontinuous activations are refused (allow_jumps=False)")


def _check_general(fixed: sp.Expr, deadline: float, seconds: float) -> None:
    """Non-polynomial pieces or non-linear conditions: the quadrature route."""
    _growth(fixed)
    pw = to_piecewise(fixed)
    branches = pw.args if isinstance(pw, sp.Piecewise) else ((pw, sp.true),)
    remaining: sp.Set = sp.S.Reals
    parts: list[tuple[sp.Expr, sp.Set]] = []
    for e, c in branches:
        if c is sp.true:
            where = remaining
        else:
            try:
                cset = c.as_set()
            except Exception:  # NotImplementedError (periodic), TypeError, ...
                cset = None
            if cset is None or cset.has(sp.ConditionSet):
                raise _Refusal(f"cannot tell where the condition {_short(c, 40)} holds; use "
                               "conditions polynomial in x")
            where = sp.Intersection(cset, remaining)
        remaining = sp.Complement(remaining, where)
        if where is not sp.S.EmptySet:
            parts.append((e, where))
        _tick(deadline, seconds)
        if remaining is sp.S.EmptySet:
            break
    if remaining is not sp.S.EmptySet:
        raise _Refusal(f"is undefined for x in {_short(remaining, 40)}: no Piecewise branch "
                       "applies there (end with a (value, True) branch)")
    points: set = set()
    for e, where in parts:
        if e.has(sp.Piecewise):
            raise _Refusal(f"cannot be split into pieces ({_short(e, 40)})")
        _check_domain(e, where.closure)
        points |= {b for b in where.boundary if b.is_finite}
        _tick(deadline, seconds)
    _check_continuity(parts, points)


def _check_domain(e: sp.Expr, closure: sp.Set) -> None:
    for sub in sp.preorder_traversal(e):
        if isinstance(sub, sp.Pow) and sub.base.has(X) and (sub.exp < 0
                                                             or not sub.exp.is_integer):
            _nonzero_on(sub.base, closure, strict=not sub.exp.is_integer, used=sub)
        elif isinstance(sub, sp.log) and sub.args[0].has(X):
            _nonzero_on(sub.args[0], closure, strict=True, used=sub)


def _nonzero_on(b: sp.Expr, closure: sp.Set, strict: bool, used: sp.Expr) -> None:
    """b > 0 (strict) or b != 0 on the closure of the piece where ``used`` appears."""
    if (b.is_positive if strict else b.is_zero is False):
        return
    try:
        bad = sp.solveset(b <= 0 if strict else sp.Eq(b, 0), X, closure)
    except Exception:  # NotImplementedError, TypeError, ...
        bad = None
    if bad is sp.S.EmptySet:
        return
    need = f"{_short(b, 30)} > 0" if strict else f"{_short(b, 30)} != 0"
    if bad is None or bad.has(sp.ConditionSet):
        raise _Refusal(f"cannot show that {need} wherever {_short(used, 30)} is used "
                       "(log, sqrt, fractional and negative powers need that)")
    raise _Refusal(f"{_short(used, 30)} is singular or undefined for x in {_short(bad, 30)} "
                   f"(it needs {need} wherever it is used)")


def _check_continuity(parts: list[tuple[sp.Expr, sp.Set]], points: set) -> None:
    """Left and right limits agree at every breakpoint.

    Both limits are exact closed forms. A difference SymPy reduces to a rational number is
    decided exactly; otherwise it is evaluated at 100 digits and called a jump above 1e-80
    relative: the numbers typed carry at most 60 digits, so a real jump between them is far
    above that, and an exact zero evaluates far below.
    """
    pts = sorted(points, key=lambda b: float(b))
    vals = [float(b) for b in pts]
    gaps = [b - a for a, b in zip(vals[:-1], vals[1:])]
    eps = min([0.25, *[g / 4 for g in gaps if g > 0]])
    for b, v in zip(pts, vals):
        sides = []
        for probe in (v - eps, v + eps):
            t = sp.Rational(probe)
            sides.append(next((e for e, where in parts if where.contains(t) is sp.true), None))
        left, right = sides
        if left is None or right is None or left is right:
            continue
        lv, rv = left.subs(X, b), right.subs(X, b)
        exact = sp.expand(lv - rv)
        d = exact if exact.is_Rational else sp.N(exact, 100)
        scale = sp.N(abs(lv), 100)
        if not (d.is_number and d.is_finite and scale.is_finite):
            raise _Refusal(f"is undefined at the breakpoint x = {_short(b, 30)}")
        if d != 0 and (exact.is_Rational or abs(d) > _JUMP_TOL * (1 + scale)):
            raise _Refusal(
                f"jumps at x = {_short(b, 30)} by {float(-d):.3g} (from "
                f"{float(sp.N(lv, 20)):.6g} to {float(sp.N(rv, 20)):.6g}); only a "
                "polynomial on intervals with conditions linear in x may jump (chi_1 is then "
                "infinite); elsewhere quadrature would give a finite, wrong chi_1: make it "
                "continuous")


def _growth(e: sp.Expr) -> float:
    """Bound on the growth of |e| as |x| -> oo: d for (1 + |x|)**d, inf for exp(c|x|)."""
    if not e.has(X):
        return 0.0
    if e == X:
        return 1.0
    if isinstance(e, (sp.Add, sp.Max, sp.Min)):
        return max(_growth(a) for a in e.args)
    if isinstance(e, sp.Piecewise):
        return max(_growth(pair.expr) for pair in e.args)
    if isinstance(e, sp.Mul):
        return sum(_growth(a) for a in e.args)
    if isinstance(e, sp.Abs):
        return _growth(e.args[0])
    if isinstance(e, sp.Pow):
        if e.exp > 0:
            return _growth(e.base) * float(e.exp)
        _growth(e.base)  # its own exponentials are checked
        if _away_from_zero(e.base):
            return 0.0
        raise _Refusal(f"{_short(e, 40)} may grow without bound where {_short(e.base, 30)} "
                       "tends to 0 as |x| grows (negative powers need a base bounded away "
                       "from 0, e.g. 1 + x**2 or 1 + exp(-x))")
    if isinstance(e, sp.exp):
        a = e.args[0]
        g = _growth(a)
        if g == 0:
            return 0.0
        if g <= 1:
            return math.inf
        if _bounded_above(a):
            return 0.0
        raise _Refusal(f"{_short(e, 40)} grows faster than exp(c*|x|): E[phi(sqrt(q) Z)^2] "
                       "would be infinite")
    if isinstance(e, sp.log):
        a = e.args[0]
        g = _growth(a)
        if not _away_from_zero(a):
            return 2.0  # |log a| for a decaying like exp(-x**2)
        return 0.0 if g == 0 else (0.5 if g < math.inf else 1.0)
    for a in e.args:  # bounded functions (tanh, erf, erfc, sin, cos, sign, Heaviside)
        if isinstance(a, sp.Expr):
            _growth(a)
    return 0.0


def _away_from_zero(b: sp.Expr) -> bool:
    """|b| >= c > 0 for all large |x| (zeros at finite x are the domain check's matter)."""
    if not b.has(X):
        return b.is_zero is False
    if b.is_polynomial(X):
        return True
    if isinstance(b, sp.Mul):
        return all(_away_from_zero(f) for f in b.args)
    if isinstance(b, sp.Pow) and b.exp > 0:
        return _away_from_zero(b.base)
    if isinstance(b, sp.exp):
        return _growth(b.args[0]) == 0 or _bounded_below(b.args[0])
    if isinstance(b, sp.Add):
        c = sp.Add(*[a for a in b.args if not a.has(X)])
        rest = [a for a in b.args if a.has(X)]
        if c.is_positive and all(a.is_nonnegative for a in rest):
            return True
        if c.is_negative and all(a.is_nonpositive for a in rest):
            return True
    return False


def _bounded_above(a: sp.Expr) -> bool:
    if a.is_polynomial(X):
        poly = sp.Poly(a, X)
        return poly.degree() <= 0 or (poly.degree() % 2 == 0 and poly.LC().is_negative)
    if a.is_nonpositive:
        return True
    if isinstance(a, sp.Add):
        return all(t.is_nonpositive for t in a.args if t.has(X))
    return bool((-a).is_nonnegative)


def _bounded_below(a: sp.Expr) -> bool:
    return _bounded_above(-a)


def _check_numbers(act: Activation, points: list[dict[str, float]]) -> None:
    """phi, phi**2 and phi' finite in float64 on [-10, 10] at the sampled parameters."""
    grid = np.linspace(-10.0, 10.0, 2001)
    for vals in points:
        with np.errstate(all="ignore"):
            f = act(grid, **vals)
            df = act.derivative(grid, **vals)
            bad = ~(np.isfinite(f) & np.isfinite(f * f) & np.isfinite(df))
        if bad.any():
            at = _at(vals)
            raise ValueError(f"activation {act.name!r}: phi(x)**2 or phi'(x) is not a finite "
                             f"float64 number at x = {grid[bad][0]:g}{at}; coefficients or "
                             "growth too large")
