r"""Figure 2: variance maps of ReLU_tau and ST_tau on the Edge of Chaos (q* = 1).

For the same threshold :math:`\tau` the two maps coincide exactly (THEORY.md §3:
:math:`V_{ST} = 2V_{ReLU} - \sigma_b^2` with :math:`\sigma_{w,ST}^2 = \sigma_{w,ReLU}^2/2`),
while the sparsities they give differ. For :math:`\tau > 0`, :math:`V'(q^*) = 1` and
:math:`V''(q^*) > 0`: the fixed point is only semi-stable.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import eoctheory as eoc
from eoctheory.theory import eoc as E

from . import style

TAUS = (0.0, 0.5, 1.0, 1.5)
Q_STAR = 1.0
Q_MAX = 3.0


@style.styled
def figure(taus=TAUS, q_star: float = Q_STAR, q_max: float = Q_MAX) -> Figure:
    """V(q) for ReLU_tau (solid) and ST_tau (dotted, markers) on the EoC, one panel per tau."""
    fig = style.new_figure(2.1 * len(taus) + 0.4, 3.6)
    axes = fig.subplots(1, len(taus), sharey=True)
    q = style.q_grid(q_max)
    relu, st = eoc.get_activation("relu"), eoc.get_activation("st")
    for k, (ax, tau) in enumerate(zip(np.atleast_1d(axes), taus)):
        for j, act in enumerate((relu, st)):
            p = E.eoc_point(act, q_star, tau=tau)
            v = eoc.variance_map(act, q, p.sigma_w2, p.sigma_b2, tau=tau)
            s = float(eoc.sparsity(act, q_star, tau=tau))
            label = (f"{style.math(act.label)}, $s={s:.2f}$\n"
                     f"$\\sigma_w^2={style.fmt(p.sigma_w2)}$, "
                     f"$\\sigma_b^2={style.fmt(p.sigma_b2)}$")
            if j == 0:
                (line,) = ax.plot(q, v, color=style.PALETTE[4], lw=2.2, label=label, zorder=2)
            else:
                (line,) = ax.plot(q, v, color=style.PALETTE[0], ls=(0, (1.5, 1.5)), lw=1.6,
                                  marker="o", markevery=40, markersize=4,
                                  markerfacecolor="white", label=label, zorder=3)
            line.set_gid(f"{act.name}-tau{tau:g}")
        style.identity(ax, 0, q_max)
        ax.set_title(f"$\\tau = {tau:g}$")
        ax.set_xlabel("$q$")
        ax.set_xlim(0, q_max)
        ax.set_ylim(0, q_max * 1.85)  # room for the legend above the curves
        ax.legend(loc="upper left", fontsize=6.5)
        if k == 0:
            ax.set_ylabel("$V(q)$")
        else:
            ax.tick_params(labelleft=True)
            ax.set_ylabel("$V(q)$")
    fig.suptitle(f"Variance maps of $\\mathrm{{ReLU}}_\\tau$ and $\\mathrm{{ST}}_\\tau$ on the "
                 f"EoC ($q^*={q_star:g}$): the curves coincide for each $\\tau$", fontsize=10)
    return fig
