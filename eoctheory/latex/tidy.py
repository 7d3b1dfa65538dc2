r"""Tidying a derived expression before it is printed: a readable equivalent.

:func:`tidy` expands an expression in :data:`~eoctheory.Q` (or :data:`QSTAR`), the
activation's parameters, :data:`~eoctheory.SIGMA_W2`, :data:`~eoctheory.SIGMA_B2` and the
Gaussian special functions, collects it on the special functions and factors each
coefficient, without letting SymPy distribute a number over a sum again
(:math:`c\,(A + B)` stays as written). :func:`to_erf` rewrites the Gaussian functions of
:mod:`eoctheory.engine.gaussian` with erf, erfc and exp (an upper tail
:math:`\Phi(-x) = \tfrac12\operatorname{erfc}(x/\sqrt2)`). The printer
(:mod:`eoctheory.latex.printer`) only chooses how to write the result.

Examples
--------
>>> from eoctheory.engine.gaussian import GaussCDF
>>> from eoctheory.engine.maps import Q, SIGMA_W2
>>> tidy(SIGMA_W2 * GaussCDF(1 / Q) + 2 * SIGMA_W2 * GaussCDF(1 / Q))
3*sigma_w2*GaussCDF(1/q)
"""

from __future__ import annotations

import sympy as sp
from sympy.simplify.radsimp import fraction

from eoctheory.engine.gaussian import GaussCDF, GaussMass, GaussPDF
from eoctheory.engine.maps import Q, SIGMA_W2

__all__ = [
    "QSTAR",
    "SPECIAL_FUNCTIONS",
    "negate",
    "tidy",
    "to_erf",
]

#: The fixed-point variance :math:`q^*` of the Edge-of-Chaos conditions.
QSTAR = sp.Symbol("q_star", positive=True)
#: The special functions a factor or term is ordered and grouped by (Gaussian, erf, exp, the
#: integrals of the activations without a closed form).
SPECIAL_FUNCTIONS = (GaussPDF, GaussCDF, GaussMass, sp.erf, sp.erfc, sp.exp, sp.Integral)

_SQRT_2PI = sp.Symbol("sqrt_2pi", positive=True)  # prints as \sqrt{2 \pi} in erf mode
_GAUSS = (GaussPDF, GaussCDF, GaussMass)


def _prod(*factors: sp.Expr) -> sp.Expr:
    """A product that SymPy will not distribute: ``c (A + B)`` stays as written.

    Numbers are multiplied together and put first; ones are dropped.
    """
    number: sp.Expr = sp.S.One
    rest: list[sp.Expr] = []
    for f in factors:
        for g in sp.Mul.make_args(sp.sympify(f)):
            if g.is_Number:
                number *= g
            elif g != 1:
                rest.append(g)
    if number == 0:
        return sp.S.Zero
    args = ([number] if number != 1 else []) + rest
    if not args:
        return sp.S.One
    if len(args) == 1:
        return args[0]
    return sp.Mul(*args, evaluate=False)


def negate(expr: sp.Expr) -> sp.Expr:
    """``-expr`` without letting SymPy distribute a number over a sum."""
    if expr.is_Mul:
        return _prod(-1, *expr.args)
    return -expr


def to_erf(expr: sp.Expr) -> sp.Expr:
    """Rewrite GaussCDF, GaussPDF, GaussMass with erf, erfc, exp (upper tails as erfc)."""
    r2 = sp.sqrt(2)

    def cdf(x):
        if x.could_extract_minus_sign():
            return sp.erfc(-x / r2) / 2
        return (1 + sp.erf(x / r2)) / 2

    return expr.replace(
        lambda e: isinstance(e, _GAUSS),
        lambda e: (sp.exp(-e.args[0] ** 2 / 2) / _SQRT_2PI if isinstance(e, GaussPDF)
                   else cdf(e.args[0]) if isinstance(e, GaussCDF)
                   else (sp.erf(e.args[1] / r2) - sp.erf(e.args[0] / r2)) / 2))


def _tidy_poly(p: sp.Expr) -> sp.Expr:
    """The shorter of factor(p) and p collected in q (or q*) with factored coefficients."""
    best = sp.factor(p)
    for s in sorted(p.free_symbols & {Q, QSTAR}, key=sp.default_sort_key):
        parts = sp.collect(sp.expand(p), s, evaluate=False)
        alt = sp.Add(*[sp.factor(c) * k for k, c in parts.items()])
        if sp.count_ops(alt) < sp.count_ops(best):
            best = alt
    return best


def _tidy_coeff(c: sp.Expr) -> sp.Expr:
    """A coefficient as ``number * factors / denominator``, sums tidied, never distributed."""
    num, den = fraction(sp.factor(sp.cancel(c)))
    number, num = num.as_coeff_Mul()
    dnumber, den = den.as_coeff_Mul()
    number = number / dnumber
    factors = []
    for f in sp.Mul.make_args(num):
        if f.is_Add:
            if f.could_extract_minus_sign():
                number, f = -number, -f
            f = _tidy_poly(f)
            content, f = f.as_content_primitive()
            number *= content
        factors.append(f)
    return _prod(number, *factors, *[1 / d for d in sp.Mul.make_args(den)])


_CDF_LIKE = (GaussCDF, GaussMass, sp.erf, sp.erfc)


def _collect(e: sp.Expr, dummies: list[sp.Dummy], back: dict) -> sp.Expr:
    """Collect expanded ``e`` on the dummies (standing for special functions); tidy each
    coefficient; join CDF-like terms whose coefficients agree up to sign into one bracket
    (``(q + tau^2)/2 (erf(b) - erf(a))``)."""
    parts = sp.collect(e, dummies, evaluate=False)
    groups: list[tuple[sp.Expr, list[sp.Expr]]] = []
    for key in sorted(parts, key=sp.default_sort_key):
        c = _tidy_coeff(parts[key])
        groupable = key == 1 or (key in back and isinstance(back[key], _CDF_LIKE))
        for gc, gkeys in groups:
            if not groupable or not (gkeys[0] == 1 or (gkeys[0] in back and isinstance(
                    back[gkeys[0]], _CDF_LIKE))):
                continue
            if sp.expand(c - gc) == 0:
                gkeys.append(key)
                break
            if sp.expand(c + gc) == 0:
                gkeys.append(-key)
                break
        else:
            groups.append((c, [key]))
    out = sp.S.Zero
    for c, keys in groups:
        if len(keys) > 1 and c.could_extract_minus_sign():  # -(a - b) -> (b - a)
            c, keys = negate(c), [-k for k in keys]
        keys = [k.xreplace(back) for k in keys]  # substitute before building: xreplace
        out += _prod(c, keys[0] if len(keys) == 1 else sp.Add(*keys))  # re-evaluates
    return out


def tidy(expr: sp.Expr) -> sp.Expr:
    r"""A readable equivalent of ``expr`` (cheap: expand, collect, factor coefficients).

    :math:`\sigma_w^2` stays in front of its bracket, coefficients are factored (a
    polynomial may instead be collected in :math:`q`), terms with a special-function
    denominator (the Edge-of-Chaos :math:`\sigma_b^2`) go over one common denominator.
    """
    expr = sp.sympify(expr)
    atoms = sorted(expr.atoms(*SPECIAL_FUNCTIONS), key=sp.default_sort_key)
    dummies = [sp.Dummy(f"g{i}") for i in range(len(atoms))]
    back = dict(zip(dummies, atoms))
    e = sp.expand(expr.xreplace(dict(zip(atoms, dummies))))
    if not e.has(*dummies):
        return _tidy_coeff(e)
    if e.has(SIGMA_W2):
        parts = sp.collect(e, SIGMA_W2, evaluate=False)
        if set(parts) <= {SIGMA_W2, sp.S.One}:
            inner = _tidy_terms(parts[SIGMA_W2], dummies, back)
            rest = _tidy_terms(parts.get(sp.S.One, sp.S.Zero), dummies, back)
            return _prod(SIGMA_W2, inner) + rest
    return _tidy_terms(e, dummies, back)


def _tidy_terms(e: sp.Expr, dummies: list[sp.Dummy], back: dict) -> sp.Expr:
    """Tidy an expanded sum in the dummies; the result has the special functions back."""
    if not e.has(*dummies):
        return _tidy_coeff(e)
    terms = sp.Add.make_args(e)
    plain = [t for t in terms if not fraction(t)[1].has(*dummies)]
    ratio = [t for t in terms if fraction(t)[1].has(*dummies)]
    out = _collect(sp.Add(*plain), dummies, back) if plain else sp.S.Zero
    if ratio:
        num, den = fraction(sp.together(sp.Add(*ratio)))
        num = _collect(sp.expand(num), dummies, back)
        den = _collect(sp.expand(den), dummies, back)
        out += _prod(num, *[1 / d for d in sp.Mul.make_args(den)])
    return out
