r"""LaTeX export of every derived quantity, in the paper's notation.

The closed forms come from :func:`eoctheory.derive`; this module only chooses how to write
them. Symbols print as in the paper: ``sigma_w2`` is :math:`\sigma_w^2`, ``sigma_b2`` is
:math:`\sigma_b^2`, ``tau`` is :math:`\tau`, and the fixed-point variance of the Edge-of-Chaos
conditions is :math:`q^*`. The Gaussian special functions of :mod:`eoctheory.engine.gaussian` print as

.. math::

    \mathtt{GaussCDF}(x) \to \Phi(x), \qquad \mathtt{GaussPDF}(x) \to \varphi(x), \qquad
    \mathtt{GaussMass}(a, b) \to \Phi(b) - \Phi(a)

(``cdf="phi"``, the default), or, with ``cdf="erf"``, rewritten with
:math:`\Phi(x) = \tfrac12(1+\operatorname{erf}(x/\sqrt2))`, an upper tail
:math:`\Phi(-x) = \tfrac12\operatorname{erfc}(x/\sqrt2)` and
:math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`.

Quantities (:data:`QUANTITIES`), each a function of :math:`q` and the activation's
parameters:

* ``definition``: :math:`\phi(x)` itself (a piecewise activation as ``cases``);
* ``sparsity``: :math:`s(q) = P(\phi(\sqrt q Z) = 0)` (eq. 12);
* ``second_moment``: :math:`\mathbb{E}[\phi(\sqrt q Z)^2]`;
* ``variance``, ``dvariance``, ``d2variance``: :math:`V(q)`, :math:`V'(q)`, :math:`V''(q)`
  (eq. 3);
* ``chi1``: :math:`\chi_1 = \sigma_w^2 \mathbb{E}[\phi'(\sqrt q Z)^2]` (eq. 11);
* ``eoc_sigma_w2``, ``eoc_sigma_b2``: the Edge-of-Chaos initialisation at the fixed point
  :math:`q^*` (App. A): :math:`\chi_1(q^*) = 1` gives
  :math:`\sigma_w^2 = 1/\mathbb{E}[\phi'(\sqrt{q^*} Z)^2]`, and :math:`V(q^*) = q^*` gives
  :math:`\sigma_b^2 = q^* - \sigma_w^2 \mathbb{E}[\phi(\sqrt{q^*} Z)^2]` (with that
  :math:`\sigma_w^2` substituted).

Activations without a closed form (tanh, erf, GELU, SiLU, any smooth expression) do not fail:
their quantities are written as Gaussian integrals of the activation,
:math:`\mathbb{E}[f(Z)] = \int_{-\infty}^{\infty} f(z)\varphi(z)\,dz`, with the Hermite-weight
forms :math:`V'(q) = \frac{\sigma_w^2}{2q}\mathbb{E}[\phi(\sqrt q Z)^2 (Z^2 - 1)]` and
:math:`V''(q) = \frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi(\sqrt q Z)^2 (Z^4 - 6Z^2 + 3)]`
(THEORY.md §1); their sparsity is 0 (a smooth activation that is not identically zero
vanishes only on a null set). A quantity that does not exist raises ``ValueError``:
:math:`\chi_1` and the Edge of Chaos of an activation that jumps (:math:`\chi_1 = \infty`),
the sparsity of a non-polynomial piecewise activation, anything of a NumPy callable.

``derivations/`` at the repository root holds the generated document; regenerate it with
``python -m eoctheory latex --write-derivations`` (see :func:`write_derivations`).

Examples
--------
>>> from eoctheory.latex.printer import latex_quantity
>>> print(latex_quantity("relu", "dvariance"))
\sigma_w^{2} \Phi\left(- \tau/\sqrt{q}\right)
>>> print(latex_quantity("relu", "eoc_sigma_w2", cdf="erf"))
\frac{2}{\operatorname{erfc}\left(\tau/\sqrt{2 q^{*}}\right)}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.simplify.radsimp import fraction

from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.engine.gaussian import (
    GaussCDF,
    GaussMass,
    GaussPDF,
    NotPiecewisePolynomial,
    _to_piecewise,
    piecewise_intervals,
)
from eoctheory.engine.maps import Q, SIGMA_B2, SIGMA_W2, derive

__all__ = [
    "CDF_MODES",
    "DERIVATION_FAMILIES",
    "LHS",
    "PaperLatexPrinter",
    "QSTAR",
    "QUANTITIES",
    "REGENERATE",
    "derivation_section",
    "derivations_main",
    "latex_all",
    "latex_equation",
    "latex_quantity",
    "paper_latex",
    "quantity_expr",
    "write_derivations",
]

#: The quantities :func:`latex_quantity` knows, in the order the document lists them.
QUANTITIES: tuple[str, ...] = ("definition", "sparsity", "second_moment", "variance",
                               "dvariance", "d2variance", "chi1", "eoc_sigma_w2",
                               "eoc_sigma_b2")
#: How :math:`\Phi` and :math:`\varphi` are written: the paper's symbols or erf/erfc/exp.
CDF_MODES: tuple[str, ...] = ("phi", "erf")
#: The fixed-point variance :math:`q^*` of the Edge-of-Chaos conditions.
QSTAR = sp.Symbol("q_star", positive=True)
#: Left-hand sides in the paper's notation (``definition`` uses the activation's label).
LHS: dict[str, str] = {
    "sparsity": r"s(q)",
    "second_moment": r"\mathbb{E}\bigl[\phi(\sqrt{q}\,Z)^{2}\bigr]",
    "variance": r"V(q)",
    "dvariance": r"V'(q)",
    "d2variance": r"V''(q)",
    "chi1": r"\chi_1(q)",
    "eoc_sigma_w2": r"\sigma_w^{2}",
    "eoc_sigma_b2": r"\sigma_b^{2}",
}
#: File stem in ``derivations/`` -> catalogue activation written there.
DERIVATION_FAMILIES: dict[str, str] = {
    "relu_tau": "relu",
    "st_tau": "st",
    "crelu": "crelu",
    "cst": "cst",
    "tanh": "tanh",
}
#: The command that regenerates ``derivations/`` (written into every file's header).
REGENERATE = "python -m eoctheory latex --write-derivations"

_Z = sp.Symbol("z", real=True)  # integration variable of the smooth (integral) forms
_SQRT_2PI = sp.Symbol("sqrt_2pi", positive=True)  # prints as \sqrt{2 \pi} in erf mode
_SYMBOL_TEX = {
    "sigma_w2": r"\sigma_w^{2}",
    "sigma_b2": r"\sigma_b^{2}",
    "tau": r"\tau",
    "q_star": r"q^{*}",
    "sqrt_2pi": r"\sqrt{2 \pi}",
}
_GAUSS = (GaussPDF, GaussCDF, GaussMass)
_SPECIAL = (GaussPDF, GaussCDF, GaussMass, sp.erf, sp.erfc, sp.exp, sp.Integral)
# term order in a sum: Phi(b)-Phi(a) first, then Phi, then phi (erf, erfc, exp alike)
_RANK = {GaussMass: 1, sp.erf: 1, sp.Integral: 1, GaussCDF: 2, sp.erfc: 2, GaussPDF: 3,
         sp.exp: 3}


def _check_cdf(cdf: str) -> str:
    if cdf not in CDF_MODES:
        raise ValueError(f"unknown cdf {cdf!r}; allowed: {', '.join(CDF_MODES)}")
    return cdf


def _check_quantity(quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; allowed: {', '.join(QUANTITIES)}")
    return quantity


def _is_special(factor: sp.Expr) -> bool:
    """A factor that prints after its coefficient: a special function, a positive integer
    power of one, or a sum containing one (``(1 + erf(x))``)."""
    if isinstance(factor, _SPECIAL):
        return True
    if factor.is_Pow and isinstance(factor.base, _SPECIAL):
        return bool(factor.exp.is_Integer and factor.exp > 0)
    return bool(factor.is_Add and factor.has(*_SPECIAL))


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


def _neg(expr: sp.Expr) -> sp.Expr:
    """``-expr`` without letting SymPy distribute a number over a sum."""
    if expr.is_Mul:
        return _prod(-1, *expr.args)
    return -expr


def _visual_width(tex: str) -> float:
    """Rough rendered width of ``tex`` in character units (fractions stack, scripts shrink)."""
    i, n, width = 0, len(tex), 0.0

    def group(j: int) -> tuple[str, int]:
        while j < n and tex[j] == " ":
            j += 1
        if j < n and tex[j] == "{":
            depth, k = 0, j
            while k < n:
                depth += {"{": 1, "}": -1}.get(tex[k], 0)
                if depth == 0:
                    return tex[j + 1:k], k + 1
                k += 1
            return tex[j + 1:], n
        return (tex[j], j + 1) if j < n else ("", n)

    while i < n:
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
            cmd = m.group(1)
            i += len(m.group(0))
            if cmd == "frac":
                a, i = group(i)
                b, i = group(i)
                width += max(_visual_width(a), _visual_width(b)) + 0.5
            elif cmd in ("operatorname", "text", "mathrm"):
                a, i = group(i)
                width += 0.8 * len(a) if cmd != "text" else 0.6 * len(a)
            elif cmd == "sqrt":
                a, i = group(i)
                width += 1.0 + _visual_width(a)
            elif cmd in ("left", "right", "Bigl", "Bigr", "bigl", "bigr", "limits"):
                pass
            elif cmd in ("quad", "qquad"):
                width += 1.5 if cmd == "quad" else 3.0
            elif cmd in (",", ";", " "):
                width += 0.3
            else:
                width += 1.0
        elif c in "^_":
            a, i = group(i + 1)
            width += 0.6 * _visual_width(a)
        elif c in "{} &":
            i += 1
        elif c in "+-=<>":
            width += 1.8
            i += 1
        else:
            width += 1.0
            i += 1
    return width


class PaperLatexPrinter(LatexPrinter):
    r"""SymPy's LaTeX printer with the paper's notation.

    Parameters
    ----------
    cdf : {"phi", "erf"}
        ``"phi"`` prints :math:`\Phi`, :math:`\varphi`, :math:`\Phi(b)-\Phi(a)`; ``"erf"``
        expects an expression already rewritten by :func:`paper_latex` (it prints any
        Gaussian function left over through its erf/erfc/exp rewrite).
    **settings
        Any :class:`sympy.printing.latex.LatexPrinter` setting; ``fold_frac_powers``
        defaults to True (:math:`q^{3/2}`).

    Notes
    -----
    Besides the symbols and functions, three layout rules differ from SymPy's: the terms
    of a sum are ordered :math:`\Phi(b)-\Phi(a)`, :math:`\Phi`, :math:`\varphi` (erf,
    erfc, exp alike) with a bare :math:`\sigma_b^2` last; in a product, numbers and symbols
    come before roots, sums and special functions; and a special-function factor follows
    its rational coefficient instead of sitting in a numerator,
    :math:`\frac{\tau}{2q^{3/2}}\varphi(\cdot)` rather than
    :math:`\frac{\tau\varphi(\cdot)}{2q^{3/2}}`.

    Examples
    --------
    >>> from eoctheory.engine.gaussian import GaussMass
    >>> from eoctheory.engine.maps import Q, SIGMA_W2
    >>> print(PaperLatexPrinter().doprint(2 * SIGMA_W2 * GaussMass(0, 1 / Q)))
    2 \sigma_w^{2} \left(\Phi\left(1/q\right) - \Phi\left(0\right)\right)
    """

    _default_settings = {**LatexPrinter._default_settings, "cdf": "phi",
                         "fold_frac_powers": True}

    def __init__(self, settings: Mapping | None = None, **kw) -> None:
        super().__init__({**(settings or {}), **kw})
        _check_cdf(self._settings["cdf"])

    # --- symbols and functions ------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self._settings["symbol_names"].get(expr)
        if name is None:
            name = _SYMBOL_TEX.get(expr.name)
        return name if name is not None else super()._print_Symbol(expr, style)

    _flat = False  # inside a function argument or exponent: a/b instead of \frac{a}{b}

    def _arg(self, expr: sp.Expr) -> str:
        r"""Print a function argument or exponent flat: (m + \tau)/\sqrt{q}."""
        old, self._flat = self._flat, True
        try:
            return self._print(expr)
        finally:
            self._flat = old

    def _over(self, num: sp.Expr | str, den: str, den_compound: bool) -> str:
        """``num/den`` with the brackets a flat fraction needs."""
        if isinstance(num, str):
            ntex = num
        else:
            ntex = self._arg(num)
            if num.is_Add:
                ntex = r"\left(%s\right)" % ntex
        return "%s/%s" % (ntex, r"\left(%s\right)" % den if den_compound else den)

    def _print_exp(self, expr: sp.exp, exp: str | None = None) -> str:
        tex = r"e^{%s}" % self._arg(expr.args[0])
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)

    def _print_Pow(self, expr: sp.Pow) -> str:
        if self._flat and expr.exp.is_number and expr.exp.is_negative:
            pos = sp.Pow(expr.base, -expr.exp)
            return self._over("1", self._print(pos), pos.is_Add)
        return super()._print_Pow(expr)

    def _fn(self, name: str, args: str, exp: str | None) -> str:
        out = r"%s\left(%s\right)" % (name, args)
        return out if exp is None else r"%s^{%s}" % (out, exp)

    def _print_GaussCDF(self, expr: GaussCDF, exp: str | None = None) -> str:
        if self._settings["cdf"] == "erf":
            return self._print(_to_erf(expr) if exp is None else _to_erf(expr) ** sp.S(exp))
        return self._fn(r"\Phi", self._arg(expr.args[0]), exp)

    def _print_GaussPDF(self, expr: GaussPDF, exp: str | None = None) -> str:
        if self._settings["cdf"] == "erf":
            return self._print(_to_erf(expr) if exp is None else _to_erf(expr) ** sp.S(exp))
        return self._fn(r"\varphi", self._arg(expr.args[0]), exp)

    def _print_GaussMass(self, expr: GaussMass, exp: str | None = None) -> str:
        if self._settings["cdf"] == "erf":
            return self._print(_to_erf(expr) if exp is None else _to_erf(expr) ** sp.S(exp))
        a, b = expr.args
        tex = r"\Phi\left(%s\right) - \Phi\left(%s\right)" % (self._arg(b), self._arg(a))
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)

    def _erf_like(self, name: str, expr: sp.Function, exp: str | None) -> str:
        arg = expr.args[0]
        # x / sqrt(2 s) for the variance symbol s: print it as such, not as sqrt(2) x / 2
        for s in sorted(arg.free_symbols & {Q, QSTAR}, key=sp.default_sort_key):
            num = sp.cancel(arg * sp.sqrt(2) * sp.sqrt(s))
            if not num.has(s) and not num.has(sp.sqrt(2)):
                sign = ""
                if num.could_extract_minus_sign():
                    sign, num = "- ", -num
                body = self._over(num, r"\sqrt{2 %s}" % self._print(s), False)
                return self._fn(name, sign + body, exp)
        num = sp.cancel(arg * sp.sqrt(2))
        if arg.has(sp.sqrt(2)) and not num.has(sp.sqrt(2)):  # x sqrt(2) / 2 -> x / sqrt(2)
            sign = ""
            if num.could_extract_minus_sign():
                sign, num = "- ", -num
            return self._fn(name, sign + self._over(num, r"\sqrt{2}", False), exp)
        return self._fn(name, self._arg(arg), exp)

    def _print_erf(self, expr: sp.erf, exp: str | None = None) -> str:
        return self._erf_like(r"\operatorname{erf}", expr, exp)

    def _print_erfc(self, expr: sp.erfc, exp: str | None = None) -> str:
        return self._erf_like(r"\operatorname{erfc}", expr, exp)

    def _named(self, name: str, expr: sp.Function, exp: str | None) -> str:
        head = name if exp is None else r"%s^{%s}" % (name, exp)
        return r"%s\left(%s\right)" % (head, self._arg(expr.args[0]))

    def _print_tanh(self, expr, exp=None) -> str:
        return self._named(r"\tanh", expr, exp)

    def _print_sinh(self, expr, exp=None) -> str:
        return self._named(r"\sinh", expr, exp)

    def _print_cosh(self, expr, exp=None) -> str:
        return self._named(r"\cosh", expr, exp)

    def _print_Integral(self, expr: sp.Integral) -> str:
        if len(expr.limits) == 1 and len(expr.limits[0]) == 3:
            var, lo, hi = expr.limits[0]
            return r"\int_{%s}^{%s} %s \, d%s" % (self._print(lo), self._print(hi),
                                                  self._print(expr.function), self._print(var))
        return super()._print_Integral(expr)

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        rows = []
        for e, c in expr.args:
            cond = r"\text{otherwise}" if c == sp.true else r"\text{if } %s" % self._print(c)
            rows.append(r"%s & %s" % (self._print(e), cond))
        return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)

    # --- brackets ----------------------------------------------------------------------------
    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        if isinstance(expr, GaussMass) and self._settings["cdf"] == "phi":
            return True
        return super()._needs_mul_brackets(expr, first=first, last=last)

    def _needs_add_brackets(self, expr) -> bool:
        if isinstance(expr, GaussMass) and self._settings["cdf"] == "phi":
            return True
        return super()._needs_add_brackets(expr)

    def parenthesize(self, item, level, is_neg=False, strict=False) -> str:
        if isinstance(item, GaussMass) and self._settings["cdf"] == "phi":
            return self._add_parens(self._print(item))
        return super().parenthesize(item, level, is_neg=is_neg, strict=strict)

    # --- sums and products -------------------------------------------------------------------
    @staticmethod
    def _term_key(term: sp.Expr) -> tuple:
        atoms = sorted(term.atoms(*_SPECIAL), key=sp.default_sort_key)
        if not atoms:
            return (9,) if term == SIGMA_B2 else (-1,) if term.has(X) else (0,)
        return (min(_RANK[type(a)] for a in atoms), tuple(sp.default_sort_key(a) for a in atoms))

    def _as_ordered_terms(self, expr, order=None):
        terms = sorted(super()._as_ordered_terms(expr, order=order), key=self._term_key)
        # do not open a sum with a minus sign when a positive term exists (x - tau, not -tau + x)
        if terms and terms[0].could_extract_minus_sign():
            for i, t in enumerate(terms):
                if not t.could_extract_minus_sign():
                    terms.insert(0, terms.pop(i))
                    break
        return terms

    def _signed_terms(self, expr: sp.Expr) -> list[tuple[str, sp.Expr]]:
        out = []
        for i, term in enumerate(self._as_ordered_terms(expr)):
            sign = "" if i == 0 else "+ "
            if term.could_extract_minus_sign():
                sign, term = "- ", _neg(term)
            out.append((sign, term))
        return out

    def _print_Add(self, expr, order=None) -> str:
        return " ".join(self._term_tex(sign, term) for sign, term in self._signed_terms(expr))

    def _term_tex(self, sign: str, term: sp.Expr) -> str:
        tex = self._print(term)
        if self._needs_add_brackets(term) and (sign == "- " or not isinstance(term, GaussMass)):
            tex = r"\left(%s\right)" % tex
        return sign + tex

    @staticmethod
    def _factor_key(f: sp.Expr) -> int:
        if f.is_Number:
            return 0
        if f.is_Symbol or (f.is_Pow and f.base.is_Symbol and f.exp.is_Integer):
            return 1
        if f.is_Pow and f.base.is_Symbol:  # roots and fractional powers
            return 2
        if f.is_Add:
            return 3
        return 5 if _is_special(f) else 4

    def _join(self, factors: list[sp.Expr]) -> str:
        factors = sorted(factors, key=lambda f: (self._factor_key(f), sp.default_sort_key(f)))
        if not factors:
            return "1"
        if len(factors) == 1:
            return self._print(factors[0])
        parts = []
        for i, f in enumerate(factors):
            tex = self._print(f)
            if self._needs_mul_brackets(f, first=(i == 0), last=(i == len(factors) - 1)):
                tex = r"\left(%s\right)" % tex
            parts.append(tex)
        return " ".join(parts)

    def _print_Mul(self, expr) -> str:
        if not isinstance(expr, sp.Mul):  # LatexPrinter sends x**-n here too
            return super()._print_Mul(expr)
        args = sp.Mul.make_args(expr)
        coeff = sp.Mul(*[f for f in args if f.is_Number])
        others = [f for f in args if not f.is_Number]
        sign = ""
        if coeff.is_negative:
            sign, coeff = "- ", -coeff
        if not others:
            return sign + self._print(coeff)
        if coeff == 1 and len(others) == 1:  # -(...) of a single factor
            tex = self._print(others[0])
            if sign and (others[0].is_Add or isinstance(others[0], GaussMass)):
                tex = r"\left(%s\right)" % tex
            return sign + tex
        special = [f for f in others if _is_special(f)]
        num: list[sp.Expr] = [] if coeff.p == 1 else [sp.Integer(coeff.p)]
        den: list[sp.Expr] = [] if coeff.q == 1 else [sp.Integer(coeff.q)]
        for f in others:
            if _is_special(f):
                continue
            base, e = f.as_base_exp()
            if e.is_number and e.is_negative:
                den.append(base if e == -1 else sp.Pow(base, -e))
            else:
                num.append(f)
        if any(d.has(*_SPECIAL) for d in den) or (self._flat and den):  # one fraction
            num, special = num + special, []
        if not den:
            return sign + self._join(num + special)
        if self._flat:
            ntex = self._join(num)
            if len(num) > 1 and any(f.is_Add for f in num) or (len(num) == 1 and num[0].is_Add):
                ntex = r"\left(%s\right)" % ntex
            return sign + self._over(ntex, self._join(den), len(den) > 1 or den[0].is_Add)
        head = r"\frac{%s}{%s}" % (self._join(num), self._join(den))
        tail = []
        special = sorted(special, key=sp.default_sort_key)
        for i, f in enumerate(special):
            tex = self._print(f)
            if f.is_Add or self._needs_mul_brackets(f, last=(i == len(special) - 1)):
                tex = r"\left(%s\right)" % tex
            tail.append(tex)
        return sign + " ".join([head] + tail)

    # --- line breaking -----------------------------------------------------------------------
    def _chunks(self, expr: sp.Expr, width: float) -> list[str]:
        """Printed pieces of ``expr`` between which a line may break (top-level + and -)."""
        if expr.is_Add:
            out: list[str] = []
            for sign, term in self._signed_terms(expr):
                inner = self._mul_add_chunks(term, width)
                if inner:
                    out.extend([sign + inner[0], *inner[1:]])
                    continue
                out.append(self._term_tex(sign, term))
            return out
        return self._mul_add_chunks(expr, width) or [self._print(expr)]

    def _mul_add_chunks(self, term: sp.Expr, width: float) -> list[str] | None:
        """``c (A + B + ...)`` too long for a line: ``c \\Bigl[`` A + B ... ``\\Bigr]``."""
        if not term.is_Mul:
            return None
        num, den = fraction(term, exact=True)
        if den != 1 and num.is_Add and den.has(*_SPECIAL):  # N / D with a long N
            if _visual_width(self._print(num)) <= 0.6 * width:
                return None
            coeff, sums = 1 / den, [num]
        else:
            sums = [f for f in term.args if f.is_Add]
            if len(sums) != 1 or _visual_width(self._print(sums[0])) <= 0.6 * width:
                return None
            coeff = sp.Mul(*[f for f in term.args if f is not sums[0]])
            if fraction(coeff)[1] != 1:
                return None
        inner = self._chunks(sums[0], width)
        lead = r"%s \Bigl[" % self._print(coeff) if coeff != 1 else r"\Bigl["
        if len(inner) == 1:
            return [lead + " " + inner[0] + r" \Bigr]"]
        return [lead + " " + inner[0], *inner[1:-1], inner[-1] + r" \Bigr]"]

    def align_lines(self, lhs: str, expr: sp.Expr, width: float = 56.0,
                    lhs_width: float | None = None) -> str:
        r"""``lhs &= expr`` for an ``align*`` environment, broken at top-level + and -.

        Parameters
        ----------
        lhs : str
            The left-hand side (LaTeX).
        expr : sympy.Expr
            The right-hand side, already tidied.
        width : float
            Line width in rough character units (about 56 fits an 11pt article).
        lhs_width : float, optional
            Width of the widest left-hand side of the ``align*`` block (the right-hand
            sides start after it); default: this one's.

        Lines after the first are indented with ``\qquad``; a long ``c (A + B + ...)`` is
        opened as ``c \Bigl[`` so that it can span lines.
        """
        lead = _visual_width(lhs) if lhs_width is None else lhs_width
        budget = width - lead - 2.0  # "= "
        whole = self._print(expr)
        if _visual_width(whole) <= budget:
            return f"{lhs} &= {whole}"
        chunks = self._chunks(expr, budget)
        lines: list[str] = []
        cur = ""
        for ch in chunks:
            if cur and _visual_width(cur + " " + ch) > budget:
                lines.append(cur)
                cur, budget = ch, width - lead - 3.0  # \qquad
            else:
                cur = f"{cur} {ch}" if cur else ch
        lines.append(cur)
        body = [f"{lhs} &= {lines[0]}"]
        body += [r"&\qquad {} %s" % line for line in lines[1:]]
        return " \\\\\n".join(body)


# --- expression preparation ----------------------------------------------------------------

def _to_erf(expr: sp.Expr) -> sp.Expr:
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
            c, keys = _neg(c), [-k for k in keys]
        keys = [k.xreplace(back) for k in keys]  # substitute before building: xreplace
        out += _prod(c, keys[0] if len(keys) == 1 else sp.Add(*keys))  # re-evaluates
    return out


def _tidy(expr: sp.Expr) -> sp.Expr:
    r"""A readable equivalent of ``expr`` (cheap: expand, collect, factor coefficients).

    :math:`\sigma_w^2` stays in front of its bracket, coefficients are factored (a
    polynomial may instead be collected in :math:`q`), terms with a special-function
    denominator (the Edge-of-Chaos :math:`\sigma_b^2`) go over one common denominator.
    """
    expr = sp.sympify(expr)
    atoms = sorted(expr.atoms(*_SPECIAL), key=sp.default_sort_key)
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


def paper_latex(expr: sp.Expr, cdf: str = "phi", **settings) -> str:
    r"""Print a derived expression in the paper's notation.

    Parameters
    ----------
    expr : sympy.Expr
        An expression in :data:`~eoctheory.Q`, :data:`QSTAR`, the activation's parameters,
        :data:`~eoctheory.SIGMA_W2`, :data:`~eoctheory.SIGMA_B2` and the Gaussian functions.
    cdf : {"phi", "erf"}
        Write :math:`\Phi, \varphi` (default) or rewrite them with erf, erfc and exp.
    **settings
        Passed to :class:`PaperLatexPrinter`.

    Returns
    -------
    str
        The LaTeX (math mode, without delimiters).

    Examples
    --------
    >>> from eoctheory import derive
    >>> print(paper_latex(derive("st").sparsity, cdf="erf"))
    \operatorname{erf}\left(\tau/\sqrt{2 q}\right)
    """
    return PaperLatexPrinter(cdf=cdf, **settings).doprint(_prepare(expr, cdf))


def _prepare(expr: sp.Expr, cdf: str) -> sp.Expr:
    """Tidy in Phi form (where Phi(b)-Phi(a) cancels as one atom), then rewrite and re-tidy."""
    expr = _tidy(sp.sympify(expr))
    if _check_cdf(cdf) == "erf":
        expr = _tidy(_to_erf(expr))
    return expr


# --- the quantities ------------------------------------------------------------------------

def _activation(activation: Activation | str) -> Activation:
    act = get_activation(activation)
    if act.expr is None:
        raise ValueError(f"activation {act.name!r} is a NumPy callable: it has no symbolic "
                         "expression to write in LaTeX")
    return act


def _is_smooth(act: Activation) -> bool:
    return not _to_piecewise(act.expr).has(sp.Piecewise)


def _gauss_integral(f: sp.Expr, q: sp.Symbol) -> sp.Integral:
    r""":math:`\int f(\sqrt q z, z) \varphi(z)\,dz` for ``f`` in x (and z)."""
    return sp.Integral(f.subs(X, sp.sqrt(q) * _Z) * GaussPDF(_Z), (_Z, -sp.oo, sp.oo))


def quantity_expr(activation: Activation | str, quantity: str) -> sp.Expr | None:
    r"""The SymPy expression that :func:`latex_quantity` prints (before tidying).

    Parameters
    ----------
    activation : Activation or str
        A catalogue name or an :class:`~eoctheory.Activation` with a SymPy expression.
    quantity : str
        One of :data:`QUANTITIES`.

    Returns
    -------
    sympy.Expr
        In :data:`~eoctheory.Q` (or :data:`QSTAR` for ``eoc_*``), the parameters and the
        Gaussian functions; an unevaluated :class:`sympy.Integral` for an activation without
        a closed form. ``definition`` returns :math:`\phi(x)` itself.

    Raises
    ------
    ValueError
        Unknown quantity; a quantity that does not exist for this activation (see the module
        docstring); breakpoints that cannot be ordered symbolically.

    Examples
    --------
    >>> quantity_expr("relu", "chi1")
    sigma_w2*GaussCDF(-tau/sqrt(q))
    """
    _check_quantity(quantity)
    act = _activation(activation)
    if quantity == "definition":
        return act.expr
    try:
        der = derive(act)
    except NotPiecewisePolynomial:
        return _integral_quantity(act, quantity)
    if der.params != act.symbols:
        raise ValueError(
            f"the breakpoints of {act.name!r} cannot be ordered symbolically in "
            f"{', '.join(act.param_names)}; write its LaTeX with numbers for the parameters "
            "(or bounds that order them)")
    if quantity in ("chi1", "eoc_sigma_w2", "eoc_sigma_b2") and der.slope_moment is None:
        raise ValueError(f"chi_1 is infinite for {act.name!r}, which jumps at x = "
                         f"{', '.join(str(j) for j in der.jumps)}: no {quantity}, no Edge of "
                         "Chaos")
    if quantity == "eoc_sigma_w2":
        return 1 / der.slope_moment.subs(Q, QSTAR)
    if quantity == "eoc_sigma_b2":
        return QSTAR - der.second_moment.subs(Q, QSTAR) / der.slope_moment.subs(Q, QSTAR)
    return {"sparsity": lambda: der.sparsity, "second_moment": lambda: der.second_moment,
            "variance": lambda: der.variance, "dvariance": lambda: der.dvariance,
            "d2variance": lambda: der.d2variance, "chi1": lambda: der.chi1}[quantity]()


def _integral_quantity(act: Activation, quantity: str) -> sp.Expr:
    phi = act.expr
    if quantity == "sparsity":
        if not _is_smooth(act):
            raise ValueError(f"sparsity of {act.name!r}: no closed form for a non-polynomial "
                             "piecewise activation; use eoctheory.sparsity numerically")
        if phi.is_zero:
            return sp.S.One
        return sp.S.Zero  # a smooth phi that is not identically 0 vanishes on a null set
    z2 = _Z**2
    e2 = _gauss_integral(phi**2, Q)
    slope = sp.diff(_to_piecewise(phi), X) ** 2
    if quantity == "second_moment":
        return e2
    if quantity == "variance":
        return SIGMA_W2 * e2 + SIGMA_B2
    if quantity == "dvariance":
        return SIGMA_W2 / (2 * Q) * _gauss_integral(phi**2 * (z2 - 1), Q)
    if quantity == "d2variance":
        return SIGMA_W2 / (4 * Q**2) * _gauss_integral(phi**2 * (z2**2 - 6 * z2 + 3), Q)
    if quantity == "chi1":
        return SIGMA_W2 * _gauss_integral(slope, Q)
    if quantity == "eoc_sigma_w2":
        return 1 / _gauss_integral(slope, QSTAR)
    # eoc_sigma_b2
    return QSTAR - _gauss_integral(phi**2, QSTAR) / _gauss_integral(slope, QSTAR)


def _definition_tex(act: Activation, printer: PaperLatexPrinter) -> str:
    try:
        pieces = piecewise_intervals(act.expr, X)
    except NotPiecewisePolynomial:
        pieces = None
    if not pieces or len(pieces) == 1:
        return printer.doprint(act.expr)
    full = _to_piecewise(act.expr)
    left_closed = []  # does breakpoint k belong to the piece on its left?
    for lo_piece, hi_piece in zip(pieces[:-1], pieces[1:]):
        p = lo_piece.hi
        try:
            at = sp.piecewise_fold(full.subs(X, p))
            left_closed.append(sp.simplify(at - lo_piece.expr.subs(X, p)) == 0)
        except TypeError:  # pragma: no cover - undecidable condition: either side will do
            left_closed.append(True)
    rows = []
    xs = printer._print(X)
    for k, piece in enumerate(pieces):
        conds = []
        if piece.lo.is_finite:
            conds.append(printer._print(piece.lo) + (" < " if left_closed[k - 1] else r" \leq "))
        conds.append(xs)
        if piece.hi.is_finite:
            conds.append((r" \leq " if left_closed[k] else " < ") + printer._print(piece.hi))
        rows.append(r"%s & \text{if } %s" % (printer.doprint(piece.expr), "".join(conds)))
    return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)


def _lhs(act: Activation, quantity: str) -> str:
    return f"{act.label}(x)" if quantity == "definition" else LHS[quantity]


def latex_quantity(activation: Activation | str, quantity: str, cdf: str = "phi") -> str:
    r"""One derived quantity of an activation as LaTeX (the right-hand side only).

    Parameters
    ----------
    activation : Activation or str
        A catalogue name (``relu``, ``st``, ``crelu``, ``cst``, ``tanh``, ...) or an
        :class:`~eoctheory.Activation` with a SymPy expression.
    quantity : str
        One of :data:`QUANTITIES`: ``definition``, ``sparsity``, ``second_moment``,
        ``variance`` (:math:`V`), ``dvariance`` (:math:`V'`), ``d2variance``
        (:math:`V''`), ``chi1``, ``eoc_sigma_w2``, ``eoc_sigma_b2``.
    cdf : {"phi", "erf"}
        :math:`\Phi, \varphi` (default) or erf, erfc and exp.

    Returns
    -------
    str
        LaTeX in math mode, without delimiters; the EoC quantities are in :math:`q^*`.

    Raises
    ------
    ValueError
        Unknown ``quantity`` or ``cdf`` (the message names the allowed values), unknown
        activation, or a quantity that does not exist for it (:math:`\chi_1` of a jump).

    Examples
    --------
    >>> print(latex_quantity("crelu", "eoc_sigma_w2"))
    \frac{1}{\Phi\left(\left(m + \tau\right)/\sqrt{q^{*}}\right) - \Phi\left(\tau/\sqrt{q^{*}}\right)}
    """
    _check_cdf(cdf)
    _check_quantity(quantity)
    act = _activation(activation)
    if quantity == "definition":
        return _definition_tex(act, PaperLatexPrinter(cdf=cdf))
    return paper_latex(quantity_expr(act, quantity), cdf=cdf)


def latex_equation(activation: Activation | str, quantity: str, cdf: str = "phi") -> str:
    r"""``LHS = RHS`` for one quantity, e.g. ``V'(q) = \sigma_w^{2} \Phi(...)``.

    Examples
    --------
    >>> print(latex_equation("relu", "sparsity"))
    s(q) = \Phi\left(\tau/\sqrt{q}\right)
    """
    act = _activation(activation)
    return f"{_lhs(act, _check_quantity(quantity))} = {latex_quantity(act, quantity, cdf)}"


def latex_all(activation: Activation | str, cdf: str = "phi") -> dict[str, str]:
    r"""Every quantity of :data:`QUANTITIES` that exists for the activation, as LaTeX.

    Quantities that do not exist (:math:`\chi_1` and the Edge of Chaos of an activation
    that jumps) are left out of the dictionary.

    Examples
    --------
    >>> sorted(latex_all("relu")) == sorted(QUANTITIES)
    True
    """
    _check_cdf(cdf)
    act = _activation(activation)
    out: dict[str, str] = {}
    for quantity in QUANTITIES:
        try:
            out[quantity] = latex_quantity(act, quantity, cdf)
        except ValueError:
            if quantity in ("definition", "second_moment", "variance"):
                raise
    return out


# --- the derivations document --------------------------------------------------------------

def _header(cdf: str) -> str:
    cmd = REGENERATE + ("" if cdf == "phi" else f" --cdf {cdf}")
    return (f"% Generated by `{cmd}` (eoctheory.latex)\n"
            "% from the activation's SymPy definition. Do not edit by hand: regenerate.\n")


def _align(printer: PaperLatexPrinter, rows: list[tuple[str, sp.Expr | str]]) -> str:
    lhs_width = max(_visual_width(lhs) for lhs, _ in rows)
    body = []
    for lhs, rhs in rows:
        if isinstance(rhs, str):
            body.append(f"{lhs} &= {rhs}")
        else:
            body.append(printer.align_lines(lhs, rhs, lhs_width=lhs_width))
    return "\\begin{align*}\n" + " \\\\\n".join(body) + "\n\\end{align*}\n"


def derivation_section(activation: Activation | str, cdf: str = "phi") -> str:
    r"""A LaTeX ``\section`` with every derived quantity of one activation.

    The definition, expected sparsity, :math:`\mathbb{E}[\phi^2]`, :math:`V, V', V''`,
    :math:`\chi_1` and the Edge-of-Chaos conditions at :math:`q^*`, with long formulas
    broken over lines at their top-level sums (``align*``; the document sets
    ``\allowdisplaybreaks``).

    Examples
    --------
    >>> print(derivation_section("relu").splitlines()[2])
    \section{$\mathrm{ReLU}_{\tau}$ (\texttt{relu})}
    """
    _check_cdf(cdf)
    act = _activation(activation)
    printer = PaperLatexPrinter(cdf=cdf)

    def prep(quantity: str) -> sp.Expr:
        return _prepare(quantity_expr(act, quantity), cdf)

    try:
        der = derive(act)
        closed = True
    except NotPiecewisePolynomial:
        der, closed = None, False
    has_chi = not closed or der.slope_moment is not None
    name = act.name.replace("_", r"\_")
    out = [_header(cdf), f"\\section{{${act.label}$ (\\texttt{{{name}}})}}\n"]
    if act.description:
        out.append(f"% {act.description}\n")
    out.append("\\paragraph{Definition.}\n")
    out.append(_align(printer, [(_lhs(act, "definition"), _definition_tex(act, printer))]))
    if not closed:
        out.append("No closed form: every expectation is written as a Gaussian integral,\n"
                   "\\[ \\mathbb{E}[f(Z)] = \\int_{-\\infty}^{\\infty} f(z)\\,\\varphi(z)\\,dz, \\]\n"
                   "with $V'$ and $V''$ in their Hermite-weight forms. The sparsity is 0:\n"
                   "a smooth activation that is not identically zero vanishes only on a\n"
                   "null set.\n")
    out.append("\\paragraph{Expected sparsity} $s(q) = P(\\phi(\\sqrt{q}\\,Z) = 0)$.\n")
    out.append(_align(printer, [(LHS["sparsity"], prep("sparsity"))]))
    out.append("\\paragraph{Second moment and variance map.}\n")
    out.append(_align(printer, [(LHS[k], prep(k)) for k in
                                ("second_moment", "variance", "dvariance", "d2variance")]))
    out.append("\\paragraph{Slope of the correlation map at $\\rho = 1$.}\n")
    if has_chi:
        out.append(_align(printer, [(LHS["chi1"], prep("chi1"))]))
        out.append("\\paragraph{Edge of Chaos at the fixed point $q^{*}$.} "
                   "$\\chi_1(q^{*}) = 1$ and $V(q^{*}) = q^{*}$ give\n")
        out.append(_align(printer, [(LHS[k], prep(k)) for k in
                                    ("eoc_sigma_w2", "eoc_sigma_b2")]))
        out.append("No Edge-of-Chaos point exists at $q^{*}$ where this "
                   "$\\sigma_b^{2} < 0$.\n")
    else:
        jumps = ", ".join(printer.doprint(j) for j in der.jumps)
        out.append(f"$\\chi_1 = \\infty$: the activation jumps at $x = {jumps}$; "
                   "there is no Edge of Chaos.\n")
    return "".join(out)


def derivations_main(families: Mapping[str, str] | None = None, cdf: str = "phi") -> str:
    r"""The ``main.tex`` that ``\input``\ s one file per family (article, amsmath, amssymb)."""
    families = DERIVATION_FAMILIES if families is None else families
    inputs = "".join(f"\\input{{{stem}}}\n" for stem in families)
    return (
        _header(cdf)
        + "\\documentclass[11pt]{article}\n"
        "\\usepackage{amsmath}\n"
        "\\usepackage{amssymb}\n"
        "\\allowdisplaybreaks\n"
        "\\title{Closed forms derived by eoctheory}\n"
        "\\author{}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n"
        "\\noindent Every formula below was derived and printed by the program from the\n"
        "activation's definition; none was typed by hand.\n"
        "Notation: $Z \\sim N(0,1)$ with density $\\varphi(z) = e^{-z^{2}/2}/\\sqrt{2\\pi}$\n"
        "and distribution function $\\Phi$; $\\phi$ is the activation, $q$ the variance of the\n"
        "pre-activations, $\\sigma_w^{2}$ and $\\sigma_b^{2}$ the weight and bias variances;\n"
        "$V(q) = \\sigma_w^{2}\\,\\mathbb{E}[\\phi(\\sqrt{q}\\,Z)^{2}] + \\sigma_b^{2}$ is the\n"
        "variance map (eq.~3), $\\chi_1 = \\sigma_w^{2}\\,\\mathbb{E}[\\phi'(\\sqrt{q}\\,Z)^{2}]$\n"
        "the slope of the correlation map (eq.~11), and $q^{*}$ the fixed point at which the\n"
        "network is initialised on the Edge of Chaos.\n"
        + inputs
        + "\\end{document}\n")


def write_derivations(directory: str | Path = "derivations", cdf: str = "phi",
                      families: Mapping[str, str] | None = None) -> list[Path]:
    r"""Write ``main.tex`` and one ``<family>.tex`` per activation family into ``directory``.

    The output is deterministic (the same bytes on every run); files whose content is
    unchanged are not rewritten. The directory is checked before the (slow) derivations
    and each file is written atomically (:mod:`eoctheory.files`).

    Parameters
    ----------
    directory : str or Path
        Created if missing; default ``derivations`` (relative to the current directory).
        An empty string is refused (say ``"."`` for the current directory).
    cdf : {"phi", "erf"}
        Notation for the Gaussian functions.
    families : mapping, optional
        File stem -> activation; default :data:`DERIVATION_FAMILIES`.

    Returns
    -------
    list of Path
        The files, ``main.tex`` last.
    """
    from eoctheory.files import atomic_write_text, check_output_file, check_writable_dir

    _check_cdf(cdf)
    families = DERIVATION_FAMILIES if families is None else families
    directory = check_writable_dir(directory, "directory", create=True)
    names = [f"{stem}.tex" for stem in families] + ["main.tex"]
    if directory.is_dir():
        for fname in names:  # a directory, device or link at a file's name: refuse now
            if (directory / fname).exists() or (directory / fname).is_symlink():
                check_output_file(directory / fname, "directory")
    texts = {f"{stem}.tex": derivation_section(act, cdf) for stem, act in families.items()}
    texts["main.tex"] = derivations_main(families, cdf)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in texts.items():
        path = directory / fname
        if path.is_symlink() or not path.is_file() or \
                path.read_bytes() != text.encode("utf-8"):
            atomic_write_text(path, text)  # a link planted since is replaced, not followed
        paths.append(path)
    return paths
