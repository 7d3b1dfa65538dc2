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


def mark_fixed_points(ax, fps, color: str, gid_prefix: str, size: float = 6.0) -> list[Line2D]:
    """Mark fixed points ``(q, q)`` by kind; each marker gets gid ``{prefix}-fp-{kind}``."""
    out = []
    for fp in fps:
        (mk,) = ax.plot([fp.q], [fp.q], ls="none", color=color, markeredgecolor=color,
                        markersize=size, markeredgewidth=1.3, zorder=5, **FP_STYLE[fp.kind])
        mk.set_gid(f"{gid_prefix}-fp-{fp.kind}")
        out.append(mk)
    return out


def fixed_point_legend_handles() -> list[Line2D]:
    """Proxy artists explaining the fixed-point markers."""
    return [Line2D([], [], ls="none", color="0.3", markeredgecolor="0.3", markersize=6,
                   markeredgewidth=1.3, label=f"{kind} fixed point", **FP_STYLE[kind])
            for kind in ("stable", "unstable", "semi-stable")]


def fmt(x: float) -> str:
    """Compact number for legends: 0.5, 1.25, 0.853."""
    return f"{float(x):.3g}"


def q_grid(q_max: float, n: int = 400, q_min: float = 1e-3) -> np.ndarray:
    """Plotting grid for q (the maps need q > 0)."""
    return np.linspace(q_min, q_max, n)
