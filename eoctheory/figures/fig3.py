r"""Figure 3: :math:`V'(q^*)` and :math:`V''(q^*)` on the EoC against the clipping height m.

CReLU_{tau,m} (left) and CST_{tau,m} (right) at :math:`q^* = 1`, one curve per sparsity s
(tau from s). :math:`V'(q^*)` rises from 0 towards 1 as m grows; :math:`V''(q^*)` first dips
below zero, then rises. The m at which :math:`V'(q^*)` hits 0.5, 0.7, 0.9 (the paper's
choices, from :func:`eoctheory.theory.eoc.m_for_slope`) is marked on both rows.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import eoctheory as eoc
from eoctheory.theory import eoc as E

from . import style

SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)
GUIDES = (0.5, 0.6, 0.7, 0.8, 0.9)
TARGETS = (0.5, 0.7, 0.9)
M_MAX = 3.5
TARGET_MARKERS = {0.5: "o", 0.7: "s", 0.9: "D"}


@style.styled
def figure(sparsities=SPARSITIES, targets=TARGETS, q_star: float = 1.0,
           m_max: float = M_MAX) -> Figure:
    """Two-by-two panels: V'(q*) (top), V''(q*) (bottom); CReLU (left), CST (right)."""
    fig = style.new_figure(8.2, 6.0)
    axes = fig.subplots(2, 2, sharex=True)
    m = np.linspace(0.01, m_max, 400)
    s_arr = np.asarray(sparsities, dtype=float)
    t_arr = np.asarray(targets, dtype=float)
    for col, name in enumerate(("crelu", "cst")):
        act = eoc.get_activation(name)
        tau = np.asarray(E.tau_from_sparsity(act, s_arr, q_star), dtype=float)
        slope = E.eoc_slope(act, q_star, tau=tau[:, None], m=m[None, :])
        curv = E.eoc_curvature(act, q_star, tau=tau[:, None], m=m[None, :])
        sol = E.m_for_slope(act, t_arr[None, :], sparsity=s_arr[:, None], q_star=q_star)
        top, bot = axes[0, col], axes[1, col]
        for g in GUIDES:
            (h,) = top.plot([0, m_max], [g, g], ls="--", color="k", lw=0.8, zorder=1)
            h.set_gid(f"guide-{g:g}")
        for i, s in enumerate(s_arr):
            c = style.PALETTE[i % len(style.PALETTE)]
            lab = f"$s={s:g}$ ($\\tau={tau[i]:.3f}$)"
            (l1,) = top.plot(m, slope[i], color=c, label=lab, zorder=2)
            (l2,) = bot.plot(m, curv[i], color=c, label=lab, zorder=2)
            l1.set_gid(f"{name}-slope-s{s:g}")
            l2.set_gid(f"{name}-curv-s{s:g}")
            for j, t in enumerate(t_arr):
                mk = TARGET_MARKERS.get(float(t), "o")
                mj = float(sol.m[i, j])
                (p1,) = top.plot([mj], [float(sol.variance_slope[i, j])], ls="none", marker=mk,
                                 color=c, markeredgecolor="k", markeredgewidth=0.6,
                                 markersize=5, zorder=4)
                (p2,) = bot.plot([mj], [float(sol.variance_curvature[i, j])], ls="none", marker=mk,
                                 color=c, markeredgecolor="k", markeredgewidth=0.6,
                                 markersize=5, zorder=4)
                p1.set_gid(f"{name}-cross-s{s:g}-t{t:g}")
                p2.set_gid(f"{name}-crosscurv-s{s:g}-t{t:g}")
        bot.axhline(0.0, color=style.REF, lw=0.8, zorder=1)
        top.set_title(f"{style.math(act.label)}: slope at the fixed point")
        bot.set_title(f"{style.math(act.label)}: curvature at the fixed point")
        top.set_ylabel("$V'(q^*)$")
        bot.set_ylabel("$V''(q^*)$")
        bot.set_xlabel("$m$")
        top.set_xlabel("$m$")
        top.tick_params(labelbottom=True)
        top.set_xlim(0, m_max)
        top.set_ylim(0, 1.02)
        top.legend(loc="lower right", title=f"$q^*={q_star:g}$", title_fontsize=7.5)
    proxies = [Line2D([], [], ls="none", marker=TARGET_MARKERS.get(float(t), "o"),
                      color="0.6", markeredgecolor="k", markeredgewidth=0.6,
                      label=f"$m$ with $V'(q^*)={t:g}$") for t in t_arr]
    proxies.append(Line2D([], [], ls="--", color="k", lw=0.8,
                          label="$V'(q^*)=0.5,\\dots,0.9$"))
    for ax in axes[1]:
        ax.legend(handles=proxies, loc="upper left")
    return fig
