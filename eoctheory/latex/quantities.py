r"""The derived quantities of an activation, as SymPy expressions and as LaTeX.

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

The closed forms come from :func:`eoctheory.derive`; :func:`latex_quantity` prints them with
the paper-notation printer (:mod:`eoctheory.latex.printer`, ``cdf="phi"`` or ``"erf"``).
Activations without a closed form (tanh, erf, GELU, SiLU, any smooth expression) do not fail:
their quantities are written as Gaussian integrals of the activation,
:math:`\mathbb{E}[f(Z)] = \int_{-\infty}^{\infty} f(z)\varphi(z)\,dz`, with the Hermite-weight
forms :math:`V'(q) = \frac{\sigma_w^2}{2q}\mathbb{E}[\phi(\sqrt q Z)^2 (Z^2 - 1)]` and
:math:`V''(q) = \frac{\sigma_w^2}{4q^2}\mathbb{E}[\phi(\sqrt q Z)^2 (Z^4 - 6Z^2 + 3)]`
(THEORY.md §1); their sparsity is 0 (a smooth activation that is not identically zero
vanishes only on a null set). A quantity that does not exist raises ``ValueError``:
:math:`\chi_1` and the Edge of Chaos of an activation that jumps (:math:`\chi_1 = \infty`),
the sparsity of a non-polynomial piecewise activation, anything of a NumPy callable.

Examples
--------
>>> from eoctheory.latex.quantities import latex_quantity
>>> print(latex_quantity("relu", "dvariance"))
\sigma_w^{2} \Phi\left(- \tau/\sqrt{q}\right)
>>> print(latex_quantity("relu", "eoc_sigma_w2", cdf="erf"))
\frac{2}{\operatorname{erfc}\left(\tau/\sqrt{2 q^{*}}\right)}
"""

from __future__ import annotations

import sympy as sp

from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.engine.gaussian import (
    GaussPDF,
    NotPiecewisePolynomial,
    to_piecewise,
    piecewise_intervals,
)
from eoctheory.engine.maps import Q, SIGMA_B2, SIGMA_W2, derive
from eoctheory.latex.printer import PaperLatexPrinter, check_cdf, paper_latex
from eoctheory.latex.tidy import QSTAR

__all__ = [
    "LHS",
    "QUANTITIES",
    "definition_tex",
    "latex_all",
    "latex_equation",
    "latex_quantity",
    "lhs_tex",
    "quantity_expr",
    "symbolic_activation",
]

#: The quantities :func:`latex_quantity` knows, in the order the document lists them.
QUANTITIES: tuple[str, ...] = ("definition", "sparsity", "second_moment", "variance",
                               "dvariance", "d2variance", "chi1", "eoc_sigma_w2",
                               "eoc_sigma_b2")
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

_Z = sp.Symbol("z", real=True)  # integration variable of the smooth (integral) forms


def _check_quantity(quantity: str) -> str:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; allowed: {', '.join(QUANTITIES)}")
    return quantity


def symbolic_activation(activation: Activation | str) -> Activation:
    """The activation, which must have a SymPy expression (else ValueError)."""
    act = get_activation(activation)
    if act.expr is None:
        raise ValueError(f"activation {act.name!r} is a NumPy callable: it has no symbolic "
                         "expression to write in LaTeX")
    return act


def _is_smooth(act: Activation) -> bool:
    return not to_piecewise(act.expr).has(sp.Piecewise)


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
        In :data:`~eoctheory.Q` (or :data:`~eoctheory.latex.tidy.QSTAR` for ``eoc_*``), the
        parameters and the Gaussian functions; an unevaluated :class:`sympy.Integral` for an
        activation without a closed form. ``definition`` returns :math:`\phi(x)` itself.

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
    act = symbolic_activation(activation)
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
    slope = sp.diff(to_piecewise(phi), X) ** 2
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


def definition_tex(act: Activation, printer: PaperLatexPrinter) -> str:
    r""":math:`\phi(x)` as LaTeX: one formula, or ``cases`` with each breakpoint on the side
    whose branch holds there."""
    try:
        pieces = piecewise_intervals(act.expr, X)
    except NotPiecewisePolynomial:
        pieces = None
    if not pieces or len(pieces) == 1:
        return printer.doprint(act.expr)
    full = to_piecewise(act.expr)
    left_closed = []  # does breakpoint k belong to the piece on its left?
    for lo_piece, hi_piece in zip(pieces[:-1], pieces[1:]):
        p = lo_piece.hi
        try:
            at = sp.piecewise_fold(full.subs(X, p))
            left_closed.append(sp.simplify(at - lo_piece.expr.subs(X, p)) == 0)
        except TypeError:  # pragma: no cover - undecidable condition: either side will do
            left_closed.append(True)
    rows = []
    xs = printer.doprint(X)
    for k, piece in enumerate(pieces):
        conds = []
        if piece.lo.is_finite:
            conds.append(printer.doprint(piece.lo)
                         + (" < " if left_closed[k - 1] else r" \leq "))
        conds.append(xs)
        if piece.hi.is_finite:
            conds.append((r" \leq " if left_closed[k] else " < ") + printer.doprint(piece.hi))
        rows.append(r"%s & \text{if } %s" % (printer.doprint(piece.expr), "".join(conds)))
    return r"\begin{cases} %s \end{cases}" % r" \\ ".join(rows)


def lhs_tex(act: Activation, quantity: str) -> str:
    """The left-hand side of ``quantity`` (:data:`LHS`; the label for ``definition``)."""
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
    check_cdf(cdf)
    _check_quantity(quantity)
    act = symbolic_activation(activation)
    if quantity == "definition":
        return definition_tex(act, PaperLatexPrinter(cdf=cdf))
    return paper_latex(quantity_expr(act, quantity), cdf=cdf)


def latex_equation(activation: Activation | str, quantity: str, cdf: str = "phi") -> str:
    r"""``LHS = RHS`` for one quantity, e.g. ``V'(q) = \sigma_w^{2} \Phi(...)``.

    Examples
    --------
    >>> print(latex_equation("relu", "sparsity"))
    s(q) = \Phi\left(\tau/\sqrt{q}\right)
    """
    act = symbolic_activation(activation)
    return f"{lhs_tex(act, _check_quantity(quantity))} = {latex_quantity(act, quantity, cdf)}"


def latex_all(activation: Activation | str, cdf: str = "phi") -> dict[str, str]:
    r"""Every quantity of :data:`QUANTITIES` that exists for the activation, as LaTeX.

    Quantities that do not exist (:math:`\chi_1` and the Edge of Chaos of an activation
    that jumps) are left out of the dictionary.

    Examples
    --------
    >>> sorted(latex_all("relu")) == sorted(QUANTITIES)
    True
    """
    check_cdf(cdf)
    act = symbolic_activation(activation)
    out: dict[str, str] = {}
    for quantity in QUANTITIES:
        try:
            out[quantity] = latex_quantity(act, quantity, cdf)
        except ValueError:
            if quantity in ("definition", "second_moment", "variance"):
                raise
    return out
