r"""Figure 8: Edge-of-Chaos curves of ReLU_tau and ST_tau for several thresholds.

Each curve is :math:`\{(\sigma_b^2(q^*), \sigma_w^2(q^*)) : q^* > 0\}` at fixed
:math:`\tau` (:func:`eoctheory.theory.eoc.eoc_curve`); the black dot is :math:`q^* = 1`. For the
same :math:`\tau` and :math:`q^*` the two activations share :math:`\sigma_b^2` while
:math:`\sigma_w^2` of ReLU_tau is twice that of ST_tau (THEORY.md §3, eq. 41-43).
For :math:`\tau = 0` the curve collapses to one point (:math:`\sigma_b^2 = 0`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import eoctheory as eoc
from eoctheory.theory import eoc as E

from . import style

TAUS = (0.0, 0.25, 0.5, 1.0, 1.5)
Q_STARS = np.geomspace(1e-2, 4.0, 400)
SW2_MAX = {"relu": 12.0, "st": 6.0}


@style.styled
def figure(taus=TAUS, q_stars=Q_STARS, q_star_dot: float = 1.0) -> Figure:
    """EoC curves, ReLU_tau (left) and ST_tau (right), one curve per tau."""
    fig = style.new_figure(8.2, 3.5)
    axes = fig.subplots(1, 2)
    q_stars = np.asarray(q_stars, dtype=float)
    for ax, name in zip(axes, ("relu", "st")):
        act = eoc.get_activation(name)
        for k, tau in enumerate(taus):
            c = style.PALETTE[k % len(style.PALETTE)]
            sb2, sw2, _q = E.eoc_curve(act, q_stars, tau=tau)
            single = np.ptp(sb2) < 1e-12 and np.ptp(sw2) < 1e-12
            (line,) = ax.plot(sb2, sw2, color=c, marker="o" if single else None,
                              markersize=7 if single else 0, label=f"$\\tau={tau:g}$"
                              + (" (every $q^*$)" if single else ""), zorder=2)
            line.set_gid(f"{name}-tau{tau:g}")
            p = E.eoc_point(act, q_star_dot, tau=tau)
            (dot,) = ax.plot([float(p.sigma_b2)], [float(p.sigma_w2)], "o", color="k",
                             markersize=4, zorder=4)
            dot.set_gid(f"{name}-tau{tau:g}-qstar")
        ax.plot([], [], "o", color="k", markersize=4, label=f"$q^*={q_star_dot:g}$")
        ax.set_title(f"EoC of {style.math(act.label)}")
        ax.set_xlabel("$\\sigma_b^2$")
        ax.set_ylabel("$\\sigma_w^2$")
        ax.set_xlim(left=-0.05)
        ax.set_ylim(0, SW2_MAX.get(name, None))
        ax.legend(loc="upper right", title=f"$q^*\\in[{q_stars.min():g}, {q_stars.max():g}]$",
                  title_fontsize=7)
    fig.suptitle("Edge of Chaos: $\\sigma_w^2$ of $\\mathrm{ReLU}_\\tau$ is twice that of "
                 "$\\mathrm{ST}_\\tau$ at the same $\\tau$ and $q^*$", fontsize=10)
    return fig
