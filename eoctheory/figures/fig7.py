r"""Figure 7: correlation maps R(rho) of ST_tau on and either side of the EoC (q* = 1).

One panel per threshold tau; curves for :math:`\chi_1 = 0.8` (ordered), 1 (EoC) and 1.2
(chaotic), each with :math:`q^*` kept a fixed point of V (see :mod:`.common`). On the EoC
:math:`R'(1) = \chi_1 = 1`: R touches the dashed identity at :math:`\rho = 1`.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from . import common, style

TAUS = (0.0, 0.5, 1.0, 1.5)


@style.styled
def figure(taus=TAUS, chis=common.CHI, q_star: float = 1.0) -> Figure:
    """R(rho) for ST_tau, one panel per tau, three initialisations per panel."""
    return common.correlation_figure("st", taus, chis, q_star)
