r"""Figure 9: variance maps on the EoC for ReLU_tau (left) and ST_tau (right) at fixed sparsity.

The threshold comes from the sparsity at :math:`q^* = 1`
(:func:`eoctheory.theory.eoc.tau_from_sparsity`). Every map touches the identity at :math:`q^*`
with :math:`V'(q^*) = 1` and lies above it elsewhere (:math:`V'' > 0`); the bottom row,
:math:`V(q) - q`, shows how quickly it leaves the identity as the sparsity grows, faster
for ST_tau.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import eoctheory as eoc
from eoctheory.theory import eoc as E

from . import style

SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9)
Q_MAX = 3.0


@style.styled
def figure(sparsities=SPARSITIES, q_star: float = 1.0, q_max: float = Q_MAX) -> Figure:
    """Top: V(q) with the identity; bottom: V(q) - q; ReLU_tau left, ST_tau right."""
    fig = style.new_figure(8.2, 5.6)
    axes = fig.subplots(2, 2, sharex=True, height_ratios=(1.6, 1.0))
    q = style.q_grid(q_max)
    s_arr = np.asarray(sparsities, dtype=float)
    for col, name in enumerate(("relu", "st")):
        act = eoc.get_activation(name)
        taus = np.asarray(E.tau_from_sparsity(act, s_arr, q_star), dtype=float)
        top, bot = axes[0, col], axes[1, col]
        style.identity(top, 0, q_max)
        bot.axhline(0.0, color=style.REF, ls="--", lw=1.0, zorder=1)
        v_hi = q_max
        for k, (s, tau) in enumerate(zip(s_arr, taus)):
            c = style.PALETTE[k % len(style.PALETTE)]
            p = E.eoc_point(act, q_star, tau=tau)
            v = eoc.variance_map(act, q, p.sigma_w2, p.sigma_b2, tau=tau)
            v_hi = max(v_hi, float(np.max(v)))
            label = (f"$s={s:g}$: $\\tau={tau:.3f}$, $\\sigma_w^2={float(p.sigma_w2):.3g}$, "
                     f"$\\sigma_b^2={float(p.sigma_b2):.3g}$")
            (line,) = top.plot(q, v, color=c, label=label, zorder=3)
            line.set_gid(f"{name}-s{s:g}")
            (gap,) = bot.plot(q, v - q, color=c, zorder=3)
            gap.set_gid(f"{name}-s{s:g}-gap")
        top.plot([q_star], [q_star], "o", color="k", markersize=4, zorder=5,
                 label=f"$q^*={q_star:g}$, where $V'(q^*)=1$")
        top.set_title(f"{style.math(act.label)} on the EoC")
        top.set_ylabel("$V(q)$")
        top.set_xlabel("$q$")
        top.tick_params(labelbottom=True)
        top.set_xlim(0, q_max)
        top.set_ylim(0, v_hi * 1.02)
        top.legend(loc="upper left", fontsize=6.8)
        bot.set_xlabel("$q$")
        bot.set_ylabel("$V(q) - q$")
        bot.set_title("distance from the identity")
    return fig
