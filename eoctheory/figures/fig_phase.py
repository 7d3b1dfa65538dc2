r"""Phase diagram (beyond the paper): finite-width risk over (sparsity, m) for CReLU and CST.

Each grid point is an EoC initialisation at :math:`q^* = 1` with :math:`\tau` from the
sparsity :math:`s` and clipping height :math:`m`, shaded by the predicted probability, at
initialisation of a width-300, depth-100 DNN, that :math:`q^l` leaves :math:`[q^*/4, 4q^*]`
or that :math:`\|\delta^1\|/\|\delta^L\| > 10`
(:func:`eoctheory.theory.finite_width.predicted_risk`). The curves :math:`V'(q^*) = 0.5, 0.7, 0.9`
(the paper's choices of m, Sec. 3.1, from :func:`eoctheory.theory.eoc.m_for_slope`) and the 5%
risk boundary are drawn on top. Line gids: ``{act}-slope{t}``, ``{act}-risk{level}``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import eoctheory as eoc
from eoctheory.theory import eoc as E
from eoctheory.theory import finite_width as fw

from . import style

SLOPES = (0.5, 0.7, 0.9)
SLOPE_STYLE = {0.5: "--", 0.7: "-.", 0.9: ":"}
#: shading classes of the predicted risk
RISK_LEVELS = (0.0, 0.01, 0.05, 0.2, 0.5, 1.0)
#: one colour per class, light (safe) to dark (unsafe): monotone in lightness
RISK_COLOURS = ("#ffffff", "#fee8a8", "#fdb863", "#e66101", "#7f2704")


@style.styled
def figure(width: int = 300, depth: int = 100, n: int = 50, q_star: float = 1.0,
           s_range: tuple[float, float] = (0.5, 0.95),
           m_range: tuple[float, float] = (0.05, 4.0), risk_level: float = 0.05) -> Figure:
    """Two panels (CReLU, CST): predicted risk over (s, m), V'(q*) curves, risk boundary."""
    fig = style.new_figure(8.4, 3.9)
    axes = fig.subplots(1, 2)
    s = np.linspace(*s_range, n)
    m = np.linspace(*m_range, n)
    for ax, name in zip(axes, ("crelu", "cst")):
        act = eoc.get_activation(name)
        tau = np.asarray(E.tau_from_sparsity(act, s, q_star))
        risk = fw.predicted_risk(act, width=width, depth=depth, q_star=q_star,
                                 tau=tau[:, None], m=m[None, :])
        cf = ax.contourf(s, m, risk.T, levels=list(RISK_LEVELS), colors=list(RISK_COLOURS))
        cf.set_gid(f"{name}-risk")
        sol = E.m_for_slope(act, np.asarray(SLOPES)[None, :], sparsity=s[:, None],
                            q_star=q_star)
        for j, t in enumerate(SLOPES):
            (ln,) = ax.plot(s, sol.m[:, j], color="k", lw=1.2, ls=SLOPE_STYLE[t],
                            label=f"$V'(q^*)={t:g}$")
            ln.set_gid(f"{name}-slope{t:g}")
        cs = ax.contour(s, m, risk.T, levels=[risk_level])
        segs = [seg for seg in cs.allsegs[0] if len(seg) > 1]
        cs.remove()
        for k, seg in enumerate(segs):
            (ln,) = ax.plot(seg[:, 0], seg[:, 1], color=style.PALETTE[4], lw=2.2,
                            label=f"risk $={risk_level:g}$" if k == 0 else None)
            ln.set_gid(f"{name}-risk{risk_level:g}" + (f"-{k}" if k else ""))
        ax.set_xlim(*s_range)
        ax.set_ylim(*m_range)
        ax.set_title(f"{style.math(act.label)}: $N={width}$, $L={depth}$, $q^*={q_star:g}$")
        ax.set_xlabel("sparsity $s$")
        ax.set_ylabel("clipping height $m$")
        ax.grid(False)
        ax.legend(loc="upper right")
    handles = [Patch(facecolor=c, edgecolor="0.5", label=f"risk {a:g}-{b:g}")
               for c, a, b in zip(RISK_COLOURS, RISK_LEVELS[:-1], RISK_LEVELS[1:])]
    handles.append(Line2D([], [], color="none",
                          label="risk: $q^l$ leaves $[q^*/4, 4q^*]$ or "
                                "$\\|\\delta^1\\|/\\|\\delta^L\\|>10$"))
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=7)
    return fig
