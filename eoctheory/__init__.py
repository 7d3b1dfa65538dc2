r"""eoctheory: Edge-of-Chaos theory for deep networks with sparsity-inducing activations.

A symbolic-numeric toolkit for the paper "Deep Neural Network Initialization with Sparsity
Inducing Activations" (Price et al., ICLR 2024). An activation is defined once as a SymPy
expression; variance maps, slopes, curvatures, sparsity and chi_1 are derived from it
symbolically, compiled to NumPy, and checked against an mpmath oracle.

Examples
--------
>>> import eoctheory as eoc
>>> act = eoc.get_activation("crelu", tau=0.5, m=1.0)
>>> round(float(eoc.sparsity(act, 1.0)), 6)
0.691462
"""

from __future__ import annotations

from eoctheory.engine import precise
from eoctheory.theory import correlation, eoc, stability
from eoctheory.engine.activations import (
    CATALOGUE,
    PAPER_ACTIVATIONS,
    Activation,
    Parameter,
    get_activation,
    list_activations,
)
from eoctheory.engine.gaussian import NotPiecewisePolynomial
from eoctheory.engine.maps import (
    Q,
    SIGMA_B2,
    SIGMA_W2,
    Derivation,
    chi1,
    derive,
    second_moment,
    second_moment_derivative,
    slope_moment,
    slope_moment4,
    sparsity,
    variance_curvature,
    variance_map,
    variance_slope,
)

from eoctheory.theory.correlation import correlation_map
from eoctheory.theory.eoc import eoc_point, m_for_slope, tau_from_sparsity
from eoctheory.theory.setting import DEFAULT_TARGET_SLOPE, Setting, resolve_setting
from eoctheory.theory.stability import assess, fixed_points, saddle_node

__version__ = "0.1.0"

#: Subpackages and modules reached as attributes on first use (``eoctheory.latex``,
#: ``eoctheory.figures``, ...), so that ``import eoctheory`` stays cheap and imports
#: neither matplotlib nor torch.
_LAZY = {
    "engine": "eoctheory.engine",
    "theory": "eoctheory.theory",
    "finite_width": "eoctheory.theory.finite_width",
    "latex": "eoctheory.latex",
    "nets": "eoctheory.nets",
    "experiments": "eoctheory.experiments",
    "figures": "eoctheory.figures",
    "cli": "eoctheory.cli",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'eoctheory' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "Activation",
    "CATALOGUE",
    "DEFAULT_TARGET_SLOPE",
    "Derivation",
    "NotPiecewisePolynomial",
    "PAPER_ACTIVATIONS",
    "Parameter",
    "Q",
    "SIGMA_B2",
    "SIGMA_W2",
    "__version__",
    "assess",
    "chi1",
    "correlation",
    "correlation_map",
    "eoc",
    "eoc_point",
    "fixed_points",
    "m_for_slope",
    "resolve_setting",
    "saddle_node",
    "Setting",
    "stability",
    "tau_from_sparsity",
    "derive",
    "get_activation",
    "list_activations",
    "precise",
    "second_moment",
    "second_moment_derivative",
    "slope_moment",
    "slope_moment4",
    "sparsity",
    "variance_curvature",
    "variance_map",
    "variance_slope",
]
