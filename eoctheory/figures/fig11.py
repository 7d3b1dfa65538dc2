r"""Figure 11: variance maps of CST_{tau,m} on and either side of the EoC (q* = 1).

Rows m = 1, 1.5, 2; columns tau = 0, 0.25, 0.5, 1 (paper App. E). Curves for
:math:`\chi_1 = 0.8` (ordered), 1 (EoC) and 1.2 (chaotic) with :math:`V(q^*) = q^*`
throughout (see :mod:`.common`); every fixed point is marked by kind, so the extra fixed
points of large m and tau (bottom right) show. At the same (tau, m) the maps equal those of
Figure 10 (V_CST = 2 V_CReLU - sigma_b^2 with half the sigma_w^2); only the sparsity differs.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from . import common, style

MS = (1.0, 1.5, 2.0)
TAUS = (0.0, 0.25, 0.5, 1.0)


@style.styled
def figure(ms=MS, taus=TAUS, chis=common.CHI, q_star: float = 1.0) -> Figure:
    """V(q) for CST_{tau,m}: rows m, columns tau, three initialisations per panel."""
    return common.variance_grid_figure("cst", ms, taus, chis, q_star)
