r"""A figure of any activation, built-in or a user's, in the paper's styling, in one call.

Four panels for one setting (resolved by :func:`eoctheory.theory.setting.resolve_setting`):

(a) :math:`\phi(x)` and :math:`\phi'(x)` with the input density of :math:`h \sim N(0, q^*)`
    shaded, so the sparsity (eq. 12) is visible as the mass where :math:`\phi = 0`;
(b) the variance map :math:`V(q)` (eq. 3) with the identity and every fixed point marked
    by kind (as in Figures 2, 4, 9-11);
(c) :math:`V(q) - q`, which shows how closely the map hugs the identity near :math:`q^*`
    (Sec. 3.1);
(d) the correlation map :math:`R(\rho)` (eq. 6) on the Edge of Chaos.

Examples
--------
>>> from eoctheory import Activation
>>> from eoctheory.figures.activation import figure
>>> act = Activation.from_string("Piecewise((0, x < tau), (x - tau, x < tau + m), (m, True))",
...                              params={"tau": 0.0, "m": 1.0})
>>> fig = figure(act, sparsity=0.8, target_slope=0.6)
>>> [ax.get_xlabel() for ax in fig.axes]
['$x$', '$q$', '$q$', '$\\rho$']
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

import eoctheory as eoc
from eoctheory.engine.activations import Activation
from eoctheory.theory import stability as S
from eoctheory.theory.setting import Setting, resolve_setting

from . import style

__all__ = ["figure"]


@style.styled
def figure(activation: Activation | str | Setting = "crelu", *, sparsity: float | None = None,
           target_slope: float | None = None, q_star: float = 1.0, **params: Any) -> Figure:
    r"""Activation, variance map, distance from the identity and correlation map of a setting.

    Parameters
    ----------
    activation : Activation, str or Setting
        Any activation (a catalogue name, an ``Activation`` from ``from_expr``/``from_string``)
        or an already resolved :class:`~eoctheory.theory.setting.Setting`.
    sparsity, target_slope, q_star, **params
        As in :func:`~eoctheory.theory.setting.resolve_setting` (ignored for a Setting).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from eoctheory.theory.correlation import correlation_map

    if isinstance(activation, Setting):
        st = activation
    else:
        st = resolve_setting(activation, sparsity=sparsity, target_slope=target_slope,
                             q_star=q_star, **params)
    act, q_star, sw2, sb2 = st.activation, st.q_star, st.sigma_w2, st.sigma_b2
    fps = S.fixed_points(act, sw2, sb2)
    fig = style.new_figure(8.2, 6.0)
    (ax_phi, ax_v), (ax_gap, ax_r) = fig.subplots(2, 2)

    # (a) phi, phi' and the input density
    sd = np.sqrt(q_star)
    x = np.linspace(-3.5 * sd, 3.5 * sd, 701)
    ax_phi.plot(x, act(x), color=style.PALETTE[4], label=r"$\phi(x)$", zorder=3)
    ax_phi.plot(x, act.derivative(x), color=style.PALETTE[0], ls="-.", lw=1.2,
                label=r"$\phi'(x)$", zorder=3)
    dens = np.exp(-x**2 / (2 * q_star)) / np.sqrt(2 * np.pi * q_star)
    lo, hi = ax_phi.get_ylim()
    ax_phi.fill_between(x, lo, lo + dens / dens.max() * 0.35 * (hi - lo), color="0.85",
                        zorder=1, label="density of $h$")
    ax_phi.set_ylim(lo, hi + 0.3 * (hi - lo))  # headroom for the legend
    ax_phi.set_xlabel("$x$")
    ax_phi.set_ylabel(r"$\phi(x)$, $\phi'(x)$")
    ax_phi.set_title(f"(a) {style.math(act.label)}: sparsity $s={st.sparsity:.3g}$")
    ax_phi.legend(loc="upper center", ncol=3, fontsize=6.5, handlelength=1.4,
                  columnspacing=0.8)

    # (b), (c) the variance map and its distance from the identity
    q_hi = max([3.0 * q_star] + [1.25 * fp.q for fp in fps if fp.q <= 20 * q_star])
    q = style.q_grid(q_hi, 600, q_min=1e-3 * q_star)
    v = eoc.variance_map(act, q, sw2, sb2)
    (line,) = ax_v.plot(q, v, color=style.PALETTE[3], zorder=3,
                        label=f"$V(q)$: $\\sigma_w^2={sw2:.3g}$, $\\sigma_b^2={sb2:.3g}$")
    line.set_gid("variance")
    style.identity(ax_v, 0, q_hi)
    shown = [fp for fp in fps if fp.q <= q_hi]
    style.mark_fixed_points(ax_v, shown, style.PALETTE[3], "variance")
    kinds = {fp.kind for fp in shown}
    ax_v.set_xlim(0, q_hi)
    ax_v.set_ylim(0, q_hi)
    ax_v.set_xlabel("$q$")
    ax_v.set_ylabel("$V(q)$")
    ax_v.set_title(f"(b) $q^*={q_star:g}$, $V'(q^*)={st.variance_slope:.3g}$, "
                   f"$V''(q^*)={st.variance_curvature:.3g}$")
    handles = ax_v.get_legend_handles_labels()[0]
    handles += [h for h in style.fixed_point_legend_handles()
                if h.get_label().replace(" fixed point", "") in kinds]
    ax_v.legend(handles=handles, loc="upper left", fontsize=6.8)

    (gap,) = ax_gap.plot(q, v - q, color=style.PALETTE[3], zorder=3)
    gap.set_gid("variance-gap")
    ax_gap.axhline(0.0, color=style.REF, ls="--", lw=1.0, zorder=1)
    for fp in shown:
        ax_gap.plot([fp.q], [0.0], ls="none", color=style.PALETTE[3], markersize=6,
                    markeredgecolor=style.PALETTE[3], markeredgewidth=1.3, zorder=5,
                    **style.FP_STYLE[fp.kind])
    ax_gap.set_xlim(0, q_hi)
    ax_gap.set_xlabel("$q$")
    ax_gap.set_ylabel("$V(q) - q$")
    ax_gap.set_title("(c) distance from the identity")

    # (d) the correlation map on the EoC
    rho = np.linspace(-1.0, 1.0, 161)
    R = correlation_map(act, rho, sw2, sb2, q_star=q_star)
    (rl,) = ax_r.plot(rho, R, color=style.PALETTE[4], zorder=3,
                      label=f"$R(\\rho)$, $\\chi_1={st.chi1:.3g}$")
    rl.set_gid("correlation")
    style.identity(ax_r, -1.0, 1.0)
    ax_r.set_xlim(-1, 1)
    ax_r.set_xlabel(r"$\rho$")
    ax_r.set_ylabel(r"$R(\rho)$")
    ax_r.set_title("(d) correlation map")
    ax_r.legend(loc="upper left", fontsize=6.8)
    what = f"$\\tau={st.tau:.4g}$" if st.tau is not None else ""
    if st.m is not None:
        what += f", $m={st.m:.4g}$"
    fig.suptitle(f"{style.math(act.label)} on the Edge of Chaos" + (f" ({what})" if what else ""),
                 fontsize=10)
    return fig
