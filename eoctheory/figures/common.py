r"""Builders shared by figure pairs: correlation maps (6, 7) and variance-map grids (10, 11).

"On and either side of the EoC" is taken as: keep :math:`q^*` a fixed point of V and set
:math:`\chi_1 = c` for :math:`c` in ``CHI`` (default 0.8, 1, 1.2), i.e.
:math:`\sigma_w^2 = c\,\sigma_{w,\mathrm{EoC}}^2` and
:math:`\sigma_b^2 = q^* - \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q^*}Z)^2]`. Points with
:math:`c < 1` lie below the EoC curve of Figure 8 (ordered), :math:`c > 1` above it
(chaotic). Where that :math:`\sigma_b^2` would be negative no such initialisation exists
(the paper leaves those cases out too); the curve is omitted and the panel says so.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import eoctheory as eoc
from eoctheory.theory import eoc as E
from eoctheory.theory import stability as S

from . import style

CHI = (0.8, 1.0, 1.2)
REGIME = {0.8: "ordered", 1.0: "EoC", 1.2: "chaotic"}
CHI_COLOUR = {0.8: style.PALETTE[4], 1.0: style.PALETTE[3], 1.2: style.PALETTE[2]}
#: fixed-point marker shape per chi_1 (the fill says the kind): nested shapes stay apart
#: where the curves share a fixed point, as all do at q*
CHI_MARKER = {0.8: "s", 1.0: "o", 1.2: "D"}


def regime_name(c: float) -> str:
    return REGIME.get(float(c), "ordered" if c < 1 else ("EoC" if c == 1 else "chaotic"))


def regime_colour(c: float) -> str:
    return CHI_COLOUR.get(float(c), style.PALETTE[0])


def regime_marker(c: float) -> str:
    return CHI_MARKER.get(float(c), "o")


def initialisation(act, c: float, q_star: float, **params) -> tuple[float, float] | None:
    r"""(sigma_w2, sigma_b2) with chi_1 = c and V(q*) = q*, or None if sigma_b2 < 0."""
    p = E.eoc_point(act, q_star, **params)
    sw2 = c * float(p.sigma_w2)
    sb2 = q_star - sw2 * float(eoc.second_moment(act, q_star, **params))
    if sb2 < -1e-12 * q_star:  # round-off aside, no initialisation with this chi_1
        return None
    return sw2, max(sb2, 0.0)


def regime_label(c: float, init) -> str:
    if init is None:
        return f"$\\chi_1={c:g}$: none, $\\sigma_b^2<0$"
    return (f"$\\chi_1={c:g}$: $\\sigma_w^2={init[0]:.3g}$, "
            f"$\\sigma_b^2={init[1]:.3g}$")


def correlation_figure(name: str, taus, chis=CHI, q_star: float = 1.0,
                       legend_loc: dict | None = None) -> Figure:
    """R(rho) panels, one per tau, curves for chi_1 in ``chis``; identity dashed.

    ``legend_loc`` maps tau to a fixed legend location; elsewhere the legend goes where it
    covers nothing (:func:`.style.place_legend`).
    """
    from eoctheory.theory.correlation import correlation_map

    act = eoc.get_activation(name)
    ncol = 2 if len(taus) > 2 else len(taus)
    nrow = -(-len(taus) // ncol)
    fig = style.new_figure(4.5 * ncol, 3.2 * nrow + 0.4)
    axes = np.asarray(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    rho = np.linspace(-1.0, 1.0, 161)
    for ax, tau in zip(axes, taus):
        lo = 0.0
        for c in chis:
            init = initialisation(act, c, q_star, tau=tau)
            if init is None:
                ax.plot([], [], color=regime_colour(c), ls=":", label=regime_label(c, None))
                continue
            R = correlation_map(act, rho, init[0], init[1], q_star=q_star, tau=tau)
            lo = min(lo, float(np.min(R)))
            (line,) = ax.plot(rho, R, color=regime_colour(c), label=regime_label(c, init),
                              lw=2.0 if c == 1 else 1.5, zorder=3)
            line.set_gid(f"{name}-tau{tau:g}-chi{c:g}")
        style.identity(ax, -1.0, 1.0)
        s = float(eoc.sparsity(act, q_star, tau=tau))
        ax.set_title(f"{style.math(act.label)}, $\\tau={tau:g}$ ($s={s:.2f}$)")
        ax.set_xlabel("$\\rho$")
        ax.set_ylabel("$R(\\rho)$")
        ax.set_xlim(-1, 1)
        # the whole square [-1, 1]^2: R maps it into itself, and the room under the
        # identity (R(rho) >= rho here) holds the legend without covering a curve
        ax.set_ylim(min(lo, -1.0) - 0.05, 1.05)
    for ax in axes[len(taus):]:
        ax.set_visible(False)
    fig.draw_without_rendering()  # the final layout, so legends can be placed clear of curves
    for ax, tau in zip(axes, taus):
        if float(tau) in (legend_loc or {}):
            ax.legend(loc=legend_loc[float(tau)])
        else:
            style.place_legend(ax, draw=False, outside="below")
    regimes = ", ".join(f"{regime_name(c)} ($\\chi_1={c:g}$)" for c in chis)
    fig.suptitle(f"Correlation maps of {style.math(act.label)} at $q^*={q_star:g}$: "
                 f"{regimes}", fontsize=10)
    return fig


def variance_grid_figure(name: str, ms, taus, chis=CHI, q_star: float = 1.0,
                         q_cap: float = 10.0) -> Figure:
    """V(q) panels: rows m, columns tau, curves for chi_1 in ``chis``, fixed points marked."""
    act = eoc.get_activation(name)
    chis = tuple(float(c) for c in chis)
    fig = style.new_figure(2.05 * len(taus) + 0.5, 1.9 * len(ms) + 1.0)
    axes = np.asarray(fig.subplots(len(ms), len(taus), squeeze=False))
    missing, kinds = set(), set()
    for i, m in enumerate(ms):
        for j, tau in enumerate(taus):
            ax = axes[i, j]
            kw = dict(tau=tau, m=m)
            curves, q_hi = [], 3.0 * q_star
            for c in chis:
                init = initialisation(act, c, q_star, **kw)
                if init is None:
                    missing.add((c, i, j))
                    continue
                fps = S.fixed_points(act, init[0], init[1], verify=False, **kw)
                q_hi = max([q_hi] + [1.15 * fp.q for fp in fps if fp.q <= q_cap])
                curves.append((c, init, fps))
            q = style.q_grid(q_hi, 300)
            style.identity(ax, 0, q_hi)
            for c, (sw2, sb2), fps in curves:
                col = regime_colour(c)
                size = 10.0 - 3.0 * chis.index(c)  # nested markers where fixed points share q
                v = eoc.variance_map(act, q, sw2, sb2, **kw)
                (line,) = ax.plot(q, v, color=col, lw=2.0 if c == 1 else 1.4, zorder=3,
                                  label=f"$\\chi_1={c:g}$")
                line.set_gid(f"{name}-m{m:g}-tau{tau:g}-chi{c:g}")
                shown = [fp for fp in fps if fp.q <= q_hi]
                kinds |= {fp.kind for fp in shown}
                style.mark_fixed_points(ax, shown, col, f"{name}-m{m:g}-tau{tau:g}-chi{c:g}",
                                        size=max(size, 3.0), marker=regime_marker(c))
            s = float(eoc.sparsity(act, q_star, **kw))
            ax.set_title(f"$m={m:g}$, $\\tau={tau:g}$ ($s={s:.2f}$)", fontsize=8.5)
            ax.set_xlim(0, q_hi)
            ax.set_ylim(0, q_hi)
            ax.set_xlabel("$q$")
            ax.set_ylabel("$V(q)$")
            if q_hi > 3.0 * q_star:  # far fixed points shown: say so, the axes differ
                ax.text(0.04, 0.96, f"wider range:\n$0 \\leq q \\leq {q_hi:.2g}$",
                        transform=ax.transAxes, ha="left", va="top", fontsize=6.5,
                        bbox=dict(boxstyle="round,pad=0.25", fc="#FFF4D6", ec="0.5", lw=0.6))
            for c in chis:
                if (c, i, j) in missing:
                    ax.text(0.97, 0.04, f"no $\\chi_1={c:g}$ init.", transform=ax.transAxes,
                            ha="right", va="bottom", fontsize=6.5, color=regime_colour(c))
    handles = [Line2D([], [], color=regime_colour(c), lw=2.0 if c == 1 else 1.4,
                      marker=regime_marker(c), markersize=5, markeredgewidth=1.3,
                      label=f"$\\chi_1={c:g}$ ({regime_name(c)})") for c in chis]
    handles.append(Line2D([], [], color=style.REF, ls="--", lw=1.0, label="identity"))
    handles += style.fixed_point_legend_handles(kinds)
    fig.legend(handles=handles, loc="outside lower center", ncol=4)
    fig.suptitle(f"Variance maps of {style.math(act.label)} at $q^*={q_star:g}$ with "
                 "$(\\sigma_w^2,\\sigma_b^2)$ on ($\\chi_1=1$) and either side of the EoC "
                 "($V(q^*)=q^*$ throughout)", fontsize=10)
    return fig
