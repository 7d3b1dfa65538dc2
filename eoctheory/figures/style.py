r"""Shared look of every paper figure: palette, fonts, markers and small helpers.

The palette is Okabe & Ito's colour-blind-safe set (black first, then orange, sky blue,
bluish green, ...). Every figure module builds its :class:`~matplotlib.figure.Figure`
inside :func:`styled`, so fonts and line widths are the same everywhere and nothing
touches pyplot's global state.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

#: Okabe-Ito colours, black left out (it is the identity line's colour).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442",
           "#000000")
#: colour of the identity line and reference lines
REF = "0.25"

RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.5,
    "legend.fontsize": 7.5,
    "legend.framealpha": 0.85,
    "legend.handlelength": 1.8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.5,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.5,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "mathtext.fontset": "dejavusans",
}

#: marker for each fixed-point kind (stable filled, unstable open, semi-stable half-filled)
FP_STYLE = {
    "stable": dict(marker="o", fillstyle="full"),
    "unstable": dict(marker="o", markerfacecolor="white", fillstyle="full"),
    "semi-stable": dict(marker="o", fillstyle="left", markerfacecoloralt="white"),
}


def styled(func: Callable[..., Figure]) -> Callable[..., Figure]:
    """Run a figure builder inside the shared rcParams (fonts resolve at artist creation)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with mpl.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure with constrained layout (no global state, safe headless)."""
    return Figure(figsize=(width, height), layout="constrained")


def math(label: str) -> str:
    """Wrap a LaTeX fragment (e.g. ``act.label``) for mathtext."""
    return f"${label}$"


def identity(ax, lo: float, hi: float, label: str = "identity", gid: str = "identity") -> Line2D:
    """The dashed identity line on ``[lo, hi]``."""
    (line,) = ax.plot([lo, hi], [lo, hi], ls="--", color=REF, lw=1.0, label=label, zorder=4)
    line.set_gid(gid)
    return line


def mark_fixed_points(ax, fps, color: str, gid_prefix: str, size: float = 6.0,
                      marker: str | None = None) -> list[Line2D]:
    """Mark fixed points ``(q, q)`` by kind; each marker gets gid ``{prefix}-fp-{kind}``.

    The fill says the kind (:data:`FP_STYLE`); ``marker`` replaces its shape (a circle), so
    that several curves' markers at one point stay apart.
    """
    out = []
    for fp in fps:
        kw = {**FP_STYLE[fp.kind], **({"marker": marker} if marker else {})}
        (mk,) = ax.plot([fp.q], [fp.q], ls="none", color=color, markeredgecolor=color,
                        markersize=size, markeredgewidth=1.3, zorder=5, **kw)
        mk.set_gid(f"{gid_prefix}-fp-{fp.kind}")
        out.append(mk)
    return out


def fixed_point_legend_handles(kinds=None) -> list[Line2D]:
    """Proxy artists explaining the fixed-point markers (only ``kinds`` when given)."""
    return [Line2D([], [], ls="none", color="0.3", markeredgecolor="0.3", markersize=6,
                   markeredgewidth=1.3, label=f"{kind} fixed point", **FP_STYLE[kind])
            for kind in ("stable", "unstable", "semi-stable")
            if kinds is None or kind in kinds]


def fmt(x: float) -> str:
    """Compact number for legends: 0.5, 1.25, 0.853."""
    return f"{float(x):.3g}"


def q_grid(q_max: float, n: int = 400, q_min: float = 1e-3) -> np.ndarray:
    """Plotting grid for q (the maps need q > 0)."""
    return np.linspace(q_min, q_max, n)


#: where :func:`place_legend` tries a legend, in order of preference
LEGEND_LOCS = ("upper left", "lower right", "upper right", "lower left", "center right",
               "center left", "upper center", "lower center")


def legend_collisions(ax, legend=None, pad_pt: float = 2.0) -> list[str]:
    """What ``legend`` (default: the axes' legend) covers: gids or labels of lines and texts.

    A line counts when its drawn path (or a marker, with its size) comes within ``pad_pt``
    points of the legend's frame, inside the axes. Call after a draw (e.g.
    ``fig.draw_without_rendering()``) so that the layout is final.
    """
    from matplotlib.path import Path
    from matplotlib.transforms import Bbox

    legend = legend if legend is not None else ax.get_legend()
    if legend is None:
        return []
    fig = ax.figure
    pad = pad_pt * fig.dpi / 72.0
    box = legend.get_window_extent().padded(pad)
    clip = ax.get_window_extent()
    inner = Bbox.intersection(box, clip)  # what is drawn outside the axes is clipped away
    if inner is None:
        return []
    hits = []
    for ln in ax.get_lines():
        if not ln.get_visible():
            continue
        xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), float))
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        name = ln.get_gid() or ln.get_label()
        if len(xy) == 0:
            continue
        if ln.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
            if Path(xy).intersects_bbox(inner, filled=False):
                hits.append(name)
                continue
        if ln.get_marker() not in (None, "None", "none", "", " "):
            r = 0.5 * ln.get_markersize() * fig.dpi / 72.0
            near = ((xy[:, 0] > box.x0 - r) & (xy[:, 0] < box.x1 + r)
                    & (xy[:, 1] > box.y0 - r) & (xy[:, 1] < box.y1 + r)
                    & (xy[:, 0] >= clip.x0) & (xy[:, 0] <= clip.x1)
                    & (xy[:, 1] >= clip.y0) & (xy[:, 1] <= clip.y1))
            if np.any(near):
                hits.append(name)
    for txt in ax.texts:
        if txt.get_visible() and txt.get_window_extent().overlaps(box):
            hits.append(txt.get_text())
    return hits


def place_legend(ax, locs=LEGEND_LOCS, *, draw: bool = True, outside: str = "right",
                 **kwargs: Any):
    """An axes legend at the first of ``locs`` where it covers nothing, else outside.

    ``kwargs`` go to :meth:`~matplotlib.axes.Axes.legend`. ``draw`` runs the figure's layout
    first (pass False when an earlier call already did and nothing has moved since).
    ``outside`` is "right" or "below": where the legend goes when every place inside covers
    a curve, a marker or a text (:func:`legend_collisions`).
    """
    fig = ax.figure
    if draw:
        fig.draw_without_rendering()
    for loc in locs:
        legend = ax.legend(loc=loc, **kwargs)
        if not legend_collisions(ax, legend):
            return legend
    if outside == "below":
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), **kwargs)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), **kwargs)


def plain_log_ticks(ax, axis: str = "y", max_decades: float = 3.0) -> None:
    """Plain decimal tick labels (0.6, 2, 40) on a log axis spanning few decades.

    Matplotlib labels such an axis "4x10^0, 3x10^0 ... 6x10^-1". Up to ``max_decades``
    decades every major tick and, on short ranges, the minor ticks at 2..9 (1.2 decades or
    less) or at 2 and 5 (up to 3 decades) are labelled as decimals; wider axes keep the
    powers of ten. Call after the data are plotted (the range is read from the axis).
    """
    from matplotlib import ticker

    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    if not (lo > 0 and np.isfinite(hi)):
        return
    decades = np.log10(hi / lo)
    if decades > max_decades:
        return
    subs = set(range(2, 10)) if decades <= 1.2 else {2, 5}

    def minor(v: float, _pos=None) -> str:
        lead = v / 10.0 ** np.floor(np.log10(v) + 1e-9)
        return f"{v:g}" if round(lead) in subs and abs(lead - round(lead)) < 1e-6 else ""

    target.set_major_formatter(ticker.FuncFormatter(lambda v, _pos=None: f"{v:g}"))
    target.set_minor_formatter(ticker.FuncFormatter(minor))
