r"""Smooth against piecewise clipping (beyond the paper: its future-work question, Sec. 5).

At equal sparsity :math:`s` and equal :math:`V'(q^*)` on the Edge of Chaos (:math:`q^* = 1`;
:math:`\tau` from :math:`s`, :math:`m` solved for each activation), the smooth variants
:math:`\mathrm{SCReLU}_{\tau,m,\beta}` and :math:`\mathrm{SCST}_{\tau,m,\beta}` against
:math:`\mathrm{CReLU}_{\tau,m}` and :math:`\mathrm{CST}_{\tau,m}` as the corner sharpness
:math:`\beta` grows (:func:`eoctheory.theory.smooth.compare_smooth`):

(left) the ratio of the spectral variances of :math:`JJ^T` (App. F, eq. 30, Gaussian
weights), smooth over piecewise, :math:`(\mu_2/\mu_1^2 - 1 - s_1)` in each case (the depth
:math:`L` cancels); above 1 the smooth variant spreads the Jacobian spectrum more;

(right) :math:`V''(q^*)`, the curvature of the variance map (failure mode 1 of Sec. 3.1,
large and positive is bad), the piecewise value as a dashed line of the same colour.

Colours: :math:`V'(q^*) = 0.5, 0.7, 0.9`; solid :math:`s = 0.85` (``sparsities=(0.85, 0.7)``
adds dotted curves at :math:`s = 0.7`, the same picture; left out by default to keep the
build at ~6 s).
A cross marks a :math:`\beta` where :math:`V` has another fixed point within a factor 4 of
:math:`q^*`. Line gids: ``{base}-s{s}-v{slope}-{ratio|curvature}`` and ``...-piecewise``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from eoctheory.engine.activations import get_activation
from eoctheory.theory.smooth import SMOOTH_VARIANTS, compare_smooth

from . import style

SLOPES = (0.5, 0.7, 0.9)
SPARSITIES = (0.85,)
COLOURS = {0.5: style.PALETTE[4], 0.7: style.PALETTE[2], 0.9: style.PALETTE[3]}
LINESTYLES = {0.85: "-", 0.7: ":"}


def _near(row, q_star: float = 1.0, factor: float = 4.0) -> bool:
    return any(q_star / factor <= q <= factor * q_star for q, _ in row.other_fixed_points)


@style.styled
def figure(betas=tuple(np.geomspace(0.3, 1000.0, 9)), sparsities=SPARSITIES,
           slopes=SLOPES) -> Figure:
    """2 x 2 panels: rows CReLU/SCReLU and CST/SCST; columns spectral-variance ratio, V''."""
    betas = np.asarray(betas, dtype=float)
    fig = style.new_figure(8.2, 6.4)
    axes = fig.subplots(2, 2, sharex=True)
    for i, base in enumerate(SMOOTH_VARIANTS):
        ax_r, ax_c = axes[i]
        for s in sparsities:
            for v in slopes:
                rows = compare_smooth(base, betas, sparsity=s, target_slope=v,
                                      skip_unreachable=True)
                pw, sm = rows[0], rows[1:]
                b = np.array([r.beta for r in sm])
                ratio = np.array([r.spectral_variance / pw.spectral_variance for r in sm])
                curv = np.array([r.variance_curvature for r in sm])
                col, ls = COLOURS[v], LINESTYLES.get(s, "--")
                gid = f"{base}-s{s:g}-v{v:g}"
                (ln,) = ax_r.plot(b, ratio, color=col, ls=ls, zorder=3)
                ln.set_gid(f"{gid}-ratio")
                (ln,) = ax_c.plot(b, curv, color=col, ls=ls, zorder=3)
                ln.set_gid(f"{gid}-curvature")
                (ln,) = ax_c.plot(b[[0, -1]], [pw.variance_curvature] * 2, color=col,
                                  ls=(0, (5, 3)), lw=0.9, alpha=0.7, zorder=2)
                ln.set_gid(f"{gid}-piecewise")
                near = np.array([_near(r) for r in sm], dtype=bool)
                if near.any():
                    ax_c.plot(b[near], curv[near], ls="none", marker="x", ms=5, color=col,
                              mew=1.2, zorder=4)
                    ax_r.plot(b[near], ratio[near], ls="none", marker="x", ms=5, color=col,
                              mew=1.2, zorder=4)
        smooth = get_activation(SMOOTH_VARIANTS[base])
        piece = get_activation(base)
        ax_r.axhline(1.0, color=style.REF, ls="--", lw=0.9, zorder=1)
        ax_r.set_ylabel(r"$\sigma^2_{JJ^T}$ ratio, smooth / piecewise")
        ax_r.set_title(f"{style.math(smooth.label)} vs {style.math(piece.label)}: "
                       "spectral variance")
        ax_c.set_ylabel(r"$V''(q^*)$")
        ax_c.set_title(f"{style.math(smooth.label)}: curvature of $V$ at $q^*$")
        for ax in (ax_r, ax_c):
            ax.set_xscale("log")
            ax.set_xlabel(r"corner sharpness $\beta$ (rounded over $m/\beta$)")
            ax.tick_params(labelbottom=True)
    handles = [Line2D([], [], color=COLOURS[v], lw=1.5, label=f"$V'(q^*)={v:g}$")
               for v in slopes]
    handles += [Line2D([], [], color="0.3", ls=LINESTYLES.get(s, "--"), lw=1.5,
                       label=f"$s={s:g}$") for s in sparsities]
    handles += [Line2D([], [], color="0.3", ls=(0, (5, 3)), lw=0.9,
                       label="piecewise ($\\beta=\\infty$)"),
                Line2D([], [], color="0.3", ls="none", marker="x", ms=5, mew=1.2,
                       label="another fixed point within $[q^*/4, 4q^*]$")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4)
    fig.suptitle("Smooth vs piecewise clipping at equal sparsity and equal $V'(q^*)$ on "
                 "the EoC ($q^*=1$)", fontsize=10)
    return fig
