"""LaTeX in the paper's notation. The formulas come from :mod:`eoctheory.engine`.

The printer (:mod:`~eoctheory.latex.printer`) writes an expression tidied by
:mod:`~eoctheory.latex.tidy`; :mod:`~eoctheory.latex.quantities` holds the derived quantities
of an activation and :mod:`~eoctheory.latex.document` the ``derivations/`` document.
"""

from eoctheory.latex.document import (
    DERIVATION_FAMILIES,
    REGENERATE,
    derivation_section,
    derivations_main,
    write_derivations,
)
from eoctheory.latex.printer import CDF_MODES, PaperLatexPrinter, paper_latex
from eoctheory.latex.quantities import (
    LHS,
    QUANTITIES,
    latex_all,
    latex_equation,
    latex_quantity,
    quantity_expr,
)
from eoctheory.latex.tidy import QSTAR

__all__ = [
    "CDF_MODES", "DERIVATION_FAMILIES", "LHS", "PaperLatexPrinter", "QSTAR", "QUANTITIES",
    "REGENERATE", "derivation_section", "derivations_main", "latex_all", "latex_equation",
    "latex_quantity", "paper_latex", "quantity_expr", "write_derivations",
]
