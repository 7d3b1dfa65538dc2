"""Legends that cover nothing, markers that say which curve is which, and plain tick labels
on short log axes (issue 16: figures 4, 6, 10 and 11, ``simulate --plot``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from eoctheory.figures import fig4, fig6, fig10, style  # noqa: E402


@pytest.fixture(scope="module")
def figs() -> dict[str, Figure]:
    from eoctheory.figures import fig2, fig7

    out = {"fig2": fig2.figure(), "fig4": fig4.figure(), "fig6": fig6.figure(),
           "fig7": fig7.figure(), "fig10": fig10.figure()}
    for fig in out.values():
        fig.draw_without_rendering()  # the final layout, as when saved
    return out


def test_collision_detector_sees_a_covered_curve():
    fig = style.new_figure(3, 3)
    ax = fig.subplots()
    x = np.linspace(0, 1, 50)
    ax.plot(x, np.full_like(x, 0.95), label="top", gid="top")
    ax.plot(x, np.full_like(x, 0.05), label="bottom", gid="bottom")
    ax.set_ylim(0, 1)
    fig.draw_without_rendering()
    assert style.legend_collisions(ax, ax.legend(loc="upper left")) == ["top"]
    assert style.legend_collisions(ax, ax.legend(loc="center left")) == []
    # place_legend skips the places that cover a curve
    leg = style.place_legend(ax, locs=("upper left", "lower left", "center left"))
    assert style.legend_collisions(ax, leg) == []
    assert leg._loc == 6  # matplotlib's code of "center left"


@pytest.mark.parametrize("name", ["fig2", "fig4", "fig6", "fig7", "fig10"])
def test_legends_cover_no_curve(figs, name):
    fig = figs[name]
    for ax in fig.axes:
        if ax.get_legend() is not None:
            assert style.legend_collisions(ax) == [], (name, ax.get_title())
    for legend in fig.legends:  # figure legends sit outside every panel
        box = legend.get_window_extent()
        assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes), name


def test_fig4_lists_only_the_fixed_point_kinds_drawn(figs):
    fig = figs["fig4"]
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    drawn = {ln.get_gid().rsplit("-", 1)[1] for ax in fig.axes for ln in ax.get_lines()
             if ln.get_gid() and "-fp-" in ln.get_gid()}
    assert drawn == {"stable", "unstable"}
    assert {lab.replace(" fixed point", "") for lab in labels if "fixed point" in lab} == drawn


def test_fig10_markers_and_ranges(figs):
    fig = figs["fig10"]
    axes = np.asarray(fig.axes).reshape(len(fig10.MS), len(fig10.TAUS))
    # at q* = 1 the three curves' markers differ in shape and size, largest drawn first
    at_q1 = [ln for ln in axes[0, 0].get_lines()
             if ln.get_gid() and "-fp-" in ln.get_gid() and ln.get_xdata()[0] == 1.0]
    assert len({ln.get_marker() for ln in at_q1}) == len(at_q1) == 3
    sizes = [ln.get_markersize() for ln in at_q1]
    assert sizes == sorted(sizes, reverse=True)
    # a panel whose q range differs from the others says so on the panel
    default = axes[0, 0].get_xlim()
    for ax in axes.ravel():
        wider = ax.get_xlim() != default
        assert any("wider range" in t.get_text() for t in ax.texts) == wider, ax.get_title()
    assert axes[-1, -1].get_xlim() != default


def test_plain_log_ticks():
    fig = style.new_figure(3, 3)
    ax = fig.subplots()
    ax.plot([1, 2, 3], [18.0, 30.0, 48.0])
    ax.set_yscale("log")
    style.plain_log_ticks(ax)
    fig.draw_without_rendering()
    shown = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()
             if t.get_text()]
    assert "20" in shown and "40" in shown
    assert not any("10^" in s or "times" in s for s in shown), shown
    # a wide axis keeps matplotlib's powers of ten
    ax2 = style.new_figure(3, 3).subplots()
    ax2.plot([1, 2], [1e-6, 1e6])
    ax2.set_yscale("log")
    before = ax2.yaxis.get_major_formatter()
    style.plain_log_ticks(ax2)
    assert ax2.yaxis.get_major_formatter() is before
