"""LaTeX in the paper's notation: the printer and quantities
(:mod:`~eoctheory.latex.printer`). The formulas come from :mod:`eoctheory.engine`."""

from eoctheory.latex.printer import (
    CDF_MODES,
    DERIVATION_FAMILIES,
    LHS,
    QSTAR,
    QUANTITIES,
    REGENERATE,
    PaperLatexPrinter,
    derivation_section,
    derivations_main,
    latex_all,
    latex_equation,
    latex_quantity,
    paper_latex,
    quantity_expr,
    write_derivations,
)

__all__ = [
    "CDF_MODES", "DERIVATION_FAMILIES", "LHS", "PaperLatexPrinter", "QSTAR", "QUANTITIES",
    "REGENERATE", "derivation_section", "derivations_main", "latex_all", "latex_equation",
    "latex_quantity", "paper_latex", "quantity_expr", "write_derivations",
]
