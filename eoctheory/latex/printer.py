r"""The paper-notation LaTeX printer.

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

:func:`paper_latex` tidies an expression first (:mod:`eoctheory.latex.tidy`), then prints it
with :class:`PaperLatexPrinter`. The derived quantities of an activation are in
:mod:`eoctheory.latex.quantities`, the ``derivations/`` document in
:mod:`eoctheory.latex.document`.

Examples
--------
>>> from eoctheory import derive
>>> print(paper_latex(derive("relu").dvariance))
\sigma_w^{2} \Phi\left(- \tau/\sqrt{q}\right)
>>> print(paper_latex(derive("relu").dvariance, cdf="erf"))
\frac{\sigma_w^{2}}{2} \operatorname{erfc}\left(\tau/\sqrt{2 q}\right)
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.simplify.radsimp import fraction

from eoctheory.engine.activations import X
from eoctheory.engine.gaussian import GaussCDF, GaussMass, GaussPDF
from eoctheory.engine.maps import Q, SIGMA_B2
from eoctheory.latex.tidy import QSTAR, SPECIAL_FUNCTIONS, negate, tidy, to_erf

__all__ = [
    "CDF_MODES",
    "PaperLatexPrinter",
    "check_cdf",
    "paper_form",
    "paper_latex",
    "visual_width",
]

#: How :math:`\Phi` and :math:`\varphi` are written: the paper's symbols or erf/erfc/exp.
CDF_MODES: tuple[str, ...] = ("phi", "erf")

_SYMBOL_TEX = {
    "sigma_w2": r"\sigma_w^{2}",
    "sigma_b2": r"\sigma_b^{2}",
    "tau": r"\tau",
    "q_star": r"q^{*}",
    "sqrt_2pi": r"\sqrt{2 \pi}",
}
# term order in a sum: Phi(b)-Phi(a) first, then Phi, then phi (erf, erfc, exp alike)
_RANK = {GaussMass: 1, sp.erf: 1, sp.Integral: 1, GaussCDF: 2, sp.erfc: 2, GaussPDF: 3,
         sp.exp: 3}


def check_cdf(cdf: str) -> str:
    """``cdf`` if it is one of :data:`CDF_MODES`, else ValueError naming the allowed ones."""
    if cdf not in CDF_MODES:
        raise ValueError(f"unknown cdf {cdf!r}; allowed: {', '.join(CDF_MODES)}")
    return cdf


def _is_special(factor: sp.Expr) -> bool:
    """A factor that prints after its coefficient: a special function, a positive integer
    power of one, or a sum containing one (``(1 + erf(x))``)."""
    if isinstance(factor, SPECIAL_FUNCTIONS):
        return True
    if factor.is_Pow and isinstance(factor.base, SPECIAL_FUNCTIONS):
        return bool(factor.exp.is_Integer and factor.exp > 0)
    return bool(factor.is_Add and factor.has(*SPECIAL_FUNCTIONS))


def visual_width(tex: str) -> float:
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
                width += max(visual_width(a), visual_width(b)) + 0.5
            elif cmd in ("operatorname", "text", "mathrm"):
                a, i = group(i)
                width += 0.8 * len(a) if cmd != "text" else 0.6 * len(a)
            elif cmd == "sqrt":
                a, i = group(i)
                width += 1.0 + visual_width(a)
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
            width += 0.6 * visual_width(a)
        elif c in "{} &":
            i += 1
        elif c in "+-=<>":
            width += 1.8
            i += 1
        else:
            width += 1.0
            i += 1
    return width



def _power(exp: str) -> sp.Integer:
    """The exponent SymPy's printer hands over as text (an integer, "2"), read without
    parsing: a non-integer never reaches here (the printer passes only integer powers)."""
    text = str(exp).strip()
    if not text.lstrip("-").isdigit():
        raise ValueError(f"unexpected exponent {text[:20]!r} of a Gaussian CDF/PDF")
    return sp.Integer(int(text))

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
        check_cdf(self._settings["cdf"])

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
            return self._print(to_erf(expr) if exp is None else to_erf(expr) ** _power(exp))
        return self._fn(r"\Phi", self._arg(expr.args[0]), exp)

    def _print_GaussPDF(self, expr: GaussPDF, exp: str | None = None) -> str:
        if self._settings["cdf"] == "erf":
            return self._print(to_erf(expr) if exp is None else to_erf(expr) ** _power(exp))
        return self._fn(r"\varphi", self._arg(expr.args[0]), exp)

    def _print_GaussMass(self, expr: GaussMass, exp: str | None = None) -> str:
        if self._settings["cdf"] == "erf":
            return self._print(to_erf(expr) if exp is None else to_erf(expr) ** _power(exp))
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
        atoms = sorted(term.atoms(*SPECIAL_FUNCTIONS), key=sp.default_sort_key)
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
                sign, term = "- ", negate(term)
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
        if any(d.has(*SPECIAL_FUNCTIONS) for d in den) or (self._flat and den):  # one fraction
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
        if den != 1 and num.is_Add and den.has(*SPECIAL_FUNCTIONS):  # N / D with a long N
            if visual_width(self._print(num)) <= 0.6 * width:
                return None
            coeff, sums = 1 / den, [num]
        else:
            sums = [f for f in term.args if f.is_Add]
            if len(sums) != 1 or visual_width(self._print(sums[0])) <= 0.6 * width:
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
        lead = visual_width(lhs) if lhs_width is None else lhs_width
        budget = width - lead - 2.0  # "= "
        whole = self._print(expr)
        if visual_width(whole) <= budget:
            return f"{lhs} &= {whole}"
        chunks = self._chunks(expr, budget)
        lines: list[str] = []
        cur = ""
        for ch in chunks:
            if cur and visual_width(cur + " " + ch) > budget:
                lines.append(cur)
                cur, budget = ch, width - lead - 3.0  # \qquad
            else:
                cur = f"{cur} {ch}" if cur else ch
        lines.append(cur)
        body = [f"{lhs} &= {lines[0]}"]
        body += [r"&\qquad {} %s" % line for line in lines[1:]]
        return " \\\\\n".join(body)


def paper_latex(expr: sp.Expr, cdf: str = "phi", **settings) -> str:
    r"""Print a derived expression in the paper's notation.

    Parameters
    ----------
    expr : sympy.Expr
        An expression in :data:`~eoctheory.Q`, :data:`~eoctheory.latex.tidy.QSTAR`, the
        activation's parameters, :data:`~eoctheory.SIGMA_W2`, :data:`~eoctheory.SIGMA_B2`
        and the Gaussian functions.
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
    return PaperLatexPrinter(cdf=cdf, **settings).doprint(paper_form(expr, cdf))


def paper_form(expr: sp.Expr, cdf: str = "phi") -> sp.Expr:
    r"""The expression :func:`paper_latex` prints.

    ``expr`` tidied (:func:`~eoctheory.latex.tidy.tidy`) in :math:`\Phi` form, where
    :math:`\Phi(b)-\Phi(a)` cancels as one atom; with ``cdf="erf"`` then rewritten with
    erf, erfc and exp and tidied again.
    """
    expr = tidy(sp.sympify(expr))
    if check_cdf(cdf) == "erf":
        expr = tidy(to_erf(expr))
    return expr
