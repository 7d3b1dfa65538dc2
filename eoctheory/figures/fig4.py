r"""Figure 4: near-tangent variance maps and extra fixed points at 85% sparsity.

(a) CReLU_{tau,m} with m chosen so that :math:`V'(q^*) = 0.9`; (b) CST_{tau,m} with
:math:`V'(q^*) = 0.8` and 0.9, all on the EoC at :math:`q^* = 1`. The top row is V(q) with
the identity; the bottom row :math:`V(q) - q` makes the near-tangency visible. Every fixed
point (from :func:`eoctheory.theory.stability.fixed_points`) is marked by kind: for CST at 0.9 a
saddle-node pair has appeared (an unstable fixed point just above :math:`q^*` and a stable
one far out), so :math:`q^l` escapes :math:`q^*`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import eoctheory as eoc
from eoctheory.theory import eoc as E
from eoctheory.theory import stability as S

from . import style

SPARSITY = 0.85
PANELS = (("crelu", (0.9,)), ("cst", (0.8, 0.9)))
COLOURS = {0.8: style.PALETTE[4], 0.9: style.PALETTE[3], 0.7: style.PALETTE[2],
           0.5: style.PALETTE[0]}


@style.styled
def figure(sparsity: float = SPARSITY, panels=PANELS, q_star: float = 1.0) -> Figure:
    """Top: V(q) and the identity with fixed points marked; bottom: V(q) - q."""
    fig = style.new_figure(8.2, 6.3)
    axes = fig.subplots(2, len(panels), sharex="col", height_ratios=(1.6, 1.0))
    axes = np.atleast_2d(axes).reshape(2, len(panels))
    handles, kinds = [], set()
    for col, (name, targets) in enumerate(panels):
        act = eoc.get_activation(name)
        t_arr = np.asarray(targets, dtype=float)
        sol = E.m_for_slope(act, t_arr, sparsity=sparsity, q_star=q_star)
        curves = []
        q_hi = 3.0 * q_star
        for j, t in enumerate(t_arr):
            kw = dict(tau=float(sol.tau[j]), m=float(sol.m[j]))
            sw2, sb2 = float(sol.sigma_w2[j]), float(sol.sigma_b2[j])
            fps = S.fixed_points(act, sw2, sb2, **kw)
            q_hi = max([q_hi] + [1.25 * fp.q for fp in fps])
            curves.append((t, kw, sw2, sb2, fps))
        q = style.q_grid(q_hi, 600)
        top, bot = axes[0, col], axes[1, col]
        style.identity(top, 0, q_hi)
        bot.axhline(0.0, color=style.REF, ls="--", lw=1.0, zorder=1)
        for t, kw, sw2, sb2, fps in curves:
            c = COLOURS.get(float(t), style.PALETTE[1])
            v = eoc.variance_map(act, q, sw2, sb2, **kw)
            label = (f"({'ab'[col] if col < 2 else col}) {style.math(act.label)}, "
                     f"$V'(q^*)={t:g}$: $m={kw['m']:.3f}$, $\\tau={kw['tau']:.3f}$\n"
                     f"$\\sigma_w^2={sw2:.3f}$, $\\sigma_b^2={sb2:.3f}$; "
                     f"{len(fps)} fixed pt{'s' if len(fps) != 1 else ''}")
            (line,) = top.plot(q, v, color=c, label=label, zorder=3)
            line.set_gid(f"{name}-t{t:g}")
            (gap,) = bot.plot(q, v - q, color=c, zorder=3)
            gap.set_gid(f"{name}-t{t:g}-gap")
            style.mark_fixed_points(top, fps, c, f"{name}-t{t:g}")
            for fp in fps:
                (mk,) = bot.plot([fp.q], [0.0], ls="none", color=c, markeredgecolor=c,
                                 markersize=6, markeredgewidth=1.3, zorder=5,
                                 **style.FP_STYLE[fp.kind])
                mk.set_gid(f"{name}-t{t:g}-gapfp-{fp.kind}")
        letter = "ab"[col] if col < 2 else str(col)
        top.set_title(f"({letter}) {style.math(act.label)}, $s={sparsity:g}$, "
                      f"$q^*={q_star:g}$")
        top.set_xlim(0, q_hi)
        top.set_ylim(0, q_hi)
        top.set_ylabel("$V(q)$")
        top.set_xlabel("$q$")
        top.tick_params(labelbottom=True)
        bot.set_xlabel("$q$")
        bot.set_ylabel("$V(q) - q$")
        bot.set_title("distance from the identity")
        kinds |= {fp.kind for _t, _kw, _sw2, _sb2, fps in curves for fp in fps}
        panel = top.get_legend_handles_labels()[0]
        handles += [h for h in panel if h.get_gid() != "identity" or not handles]
    # one legend under the panels: inside, the long labels would cover the curves of (b);
    # only the fixed-point kinds that occur are explained
    fig.legend(handles=handles + style.fixed_point_legend_handles(kinds),
               loc="outside lower center", ncol=3, fontsize=6.8)
    return fig
