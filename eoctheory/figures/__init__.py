r"""The paper's figures, one module per figure, and a registry.

This is the only part of eoctheory that imports matplotlib. Each module exposes
``figure(**options) -> matplotlib.figure.Figure`` built from the public API only;
``python -m eoctheory.figures`` writes them all (see :mod:`eoctheory.figures.__main__`).
:func:`activation_figure` draws the same quantities for any activation, a user's included.
Lines carry gids (``Line2D.get_gid()``) such as ``"relu-tau0.5"`` so tests can find them.

Examples
--------
>>> from eoctheory.figures import REGISTRY
>>> list(REGISTRY)[:3]
['fig2', 'fig3', 'fig4']
"""

from __future__ import annotations

from typing import Callable

from matplotlib.figure import Figure

from . import fig2, fig3, fig4, fig6, fig7, fig8, fig9, fig10, fig11, fig_cnn, fig_phase
from . import fig_smooth
from . import fig_resnet
from .activation import figure as activation_figure

#: name -> (builder, one-line description), in paper order
REGISTRY: dict[str, tuple[Callable[..., Figure], str]] = {
    "fig2": (fig2.figure, "V(q) of ReLU_tau and ST_tau on the EoC (q*=1), one panel per tau"),
    "fig3": (fig3.figure, "V'(q*) and V''(q*) against m for CReLU and CST at several sparsities"),
    "fig4": (fig4.figure, "V(q) at s=0.85 for CReLU (V'(q*)=0.9) and CST (0.8, 0.9), fixed points"),
    "fig6": (fig6.figure, "R(rho) for ReLU_tau on and either side of the EoC, several tau"),
    "fig7": (fig7.figure, "R(rho) for ST_tau on and either side of the EoC, several tau"),
    "fig8": (fig8.figure, "EoC curves (sigma_b^2, sigma_w^2) of ReLU_tau and ST_tau, several tau"),
    "fig9": (fig9.figure, "V(q) on the EoC for ReLU_tau and ST_tau at fixed sparsities"),
    "fig10": (fig10.figure, "V(q) for CReLU_{tau,m} on and either side of the EoC, m x tau grid"),
    "fig11": (fig11.figure, "V(q) for CST_{tau,m} on and either side of the EoC, m x tau grid"),
    "fig_phase": (fig_phase.figure, "finite-width risk over (s, m) for CReLU and CST, N=300, L=100"),
    "fig_cnn": (fig_cnn.figure,
                "2-D CNN: q^l, sparsity, input/neighbour correlations by layer vs theory"),
    "fig_smooth": (fig_smooth.figure,
                   "smooth vs piecewise CReLU/CST: spectral variance and V''(q*) against beta"),
    "fig_resnet": (fig_resnet.figure,
                   "plain vs residual MLPs at s=0.85: sparsity, gradients and risk against alpha"),
}

__all__ = ["REGISTRY", "activation_figure", "make"]


def make(name: str, **options) -> Figure:
    """Build the registered figure ``name`` (ValueError naming the known ones if unknown)."""
    try:
        func = REGISTRY[name][0]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(REGISTRY)}") from None
    return func(**options)
