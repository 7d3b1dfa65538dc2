r"""Phase diagram (beyond the paper): finite-width risk over (sparsity, m) for CReLU and CST.

Each grid point is an EoC initialisation at :math:`q^* = 1` with :math:`\tau` from the
sparsity :math:`s` and clipping height :math:`m`, shaded by the predicted risk at
initialisation of a width-300, depth-100 DNN
(:func:`eoctheory.theory.finite_width.predicted_risk`): the probability that the sparsity
:math:`s(q^l)` moves more than 0.1 from :math:`s(q^*)` or :math:`\chi_1(q^l)/\chi_1(q^*)`
leaves :math:`[1/2, 2]` at some layer (*drift*), plus the probability that
:math:`\|\delta^1\|/\|\delta^L\|` leaves :math:`[10^{-3}, 10^3]` (exploding or vanishing
gradients). Hatching marks where the gradient failures outweigh drift. The curves
:math:`V'(q^*) = 0.5, 0.7, 0.9` (the paper's choices of m, Sec. 3.1, from
:func:`eoctheory.theory.eoc.m_for_slope`) and the 5% risk boundary are drawn on top; every
legend is below the panels. Line gids: ``{act}-slope{t}``, ``{act}-risk{level}``.

Reading the diagram
-------------------
* Large :math:`m` (top): drift. :math:`V'(q^*) \to 1` (the unclipped
  :math:`\mathrm{ReLU}_\tau` / :math:`\mathrm{ST}_\tau`) and, for :math:`\tau > 0`,
  :math:`V''(q^*) > 0` (Figure 3): above :math:`q^*` the map pushes :math:`q^l` further
  up and the walk leaves the region where :math:`s(q)` and :math:`\chi_1(q)` stay put,
  the sooner the sparser (a larger :math:`\tau` makes :math:`s(q)` depend more on
  :math:`q`). CST drifts at smaller :math:`m` than CReLU: its :math:`V''(q^*)` is larger
  at the same :math:`m`.
* CReLU at low sparsity stays safe up to :math:`m = 4`: at :math:`s = 0.5`,
  :math:`\tau = 0` and with :math:`m \gg \sqrt{q^*}` CReLU is the plain ReLU, positively
  homogeneous, whose :math:`s` and :math:`\chi_1` do not depend on :math:`q` (until
  :math:`\sqrt q` nears :math:`m`); the walk of :math:`q^l` may wander, it does not fail by
  scale alone. As :math:`s` grows the sparse units make :math:`\|\delta^1\|/\|\delta^L\|`
  log-normally wide and the boundary near :math:`s \approx 0.65` at :math:`m = 4` is
  gradient *explosion* (hatched), with drift behind it.
* Tiny :math:`m` (bottom strip): vanishing gradients (hatched). Few units pass gradient
  (:math:`\phi' \ne 0` only for :math:`\tau < h < \tau + m`, CReLU, or
  :math:`\tau < |h| < \tau + m`, CST), so the per-layer factor :math:`R_l` is very noisy
  and the median of :math:`\|\delta^1\|/\|\delta^L\|` falls by
  :math:`\tfrac12\mathrm{Var}\log R_l` per layer even on the EoC.

The earlier version of this figure (risk = leaving a fixed band :math:`[q^*/4, 4q^*]` or a
gradient ratio above 10) showed the CReLU safe region spiking to :math:`m \approx 3.6` at
:math:`s \approx 0.55`. That spike came from the band criterion, not from the grid: at
:math:`s = 0.5` (:math:`\tau = 0`, :math:`\sigma_b^2 \approx 0`) and large :math:`m`,
:math:`V(q) = q` below :math:`q^*`, so :math:`q^l` is a neutral random walk there
(per-layer sd of :math:`\log q` about 0.13 at :math:`N = 300`) that left the band with
probability about 0.5 over 100 layers although nothing that matters changes. A small
:math:`\tau > 0` brings :math:`\sigma_b^2 > 0` (0.09 at :math:`s = 0.55`), a floor that
pushes :math:`q^l` back up below :math:`q^*` (:math:`\log(V(q)/q) = 0.1` at
:math:`q = q^*/4`) while :math:`V''(q^*)` is still about 0, so the walk stayed in the band
(risk 0.04); larger :math:`\tau` raised :math:`V''(q^*)` and with it the upward escape and
the gradient risk. Hence a narrow valley of low risk at :math:`s \approx 0.55`. The drift
criteria do not penalise a change of scale, and the spike is gone.

The small steps of the CST boundary (near :math:`s \approx 0.68` and :math:`0.78`) are not
physical: the predictor decides drift per cell of its :math:`\log q` grid, so as
:math:`\tau` varies a drift threshold crossing a cell centre moves the killing boundary by
a whole cell and the drift probability jumps (by up to a third of its value there).

Computation: the risk is evaluated exactly on every other grid point (a coarse grid), then
on every fine point inside coarse cells whose corners differ in shading class or in the
dominant failure; inside the other cells it is interpolated bilinearly from the corners,
which cannot change the class (``refine=False`` evaluates every point: 2-3 times slower,
the same picture up to features narrower than two grid steps).
"""

from __future__ import annotations

import matplotlib as mpl
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
#: hatch of the region where exploding/vanishing gradients outweigh drift
HATCH = "////"
#: settings per batch of the chain (small batches keep the kernels in cache: ~2x faster)
BATCH = 8


def risk_classes(risk: np.ndarray, drift: np.ndarray, grad: np.ndarray,
                 risk_level: float) -> np.ndarray:
    """Shading class, plus 10 where gradient failures dominate above ``risk_level``."""
    cls = np.digitize(risk, RISK_LEVELS[1:-1])
    return cls + 10 * ((risk >= risk_level) & (grad > drift))


def risk_grid(activation, s: np.ndarray, m: np.ndarray, *, width: int, depth: int,
              q_star: float = 1.0, risk_level: float = 0.05,
              refine: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(risk, drift, explosion + vanishing) on the grid ``s x m`` (shape ``(len(s), len(m))``).

    With ``refine`` the chain runs on every other point and, between them, only where the
    shading class or the dominant failure changes (see the module docstring)."""
    act = eoc.get_activation(activation)
    tau = np.asarray(E.tau_from_sparsity(act, s, q_star), dtype=float)
    ns, nm = len(s), len(m)
    out = np.full((3, ns, nm), np.nan)

    def run(ii: np.ndarray, jj: np.ndarray) -> None:
        if ii.size:
            r, d, e, v = fw.predicted_risk(act, width=width, depth=depth, q_star=q_star,
                                           tau=tau[ii], m=m[jj], components=True,
                                           batch=BATCH)
            out[:, ii, jj] = r, d, e + v

    if not refine:
        ii, jj = np.meshgrid(np.arange(ns), np.arange(nm), indexing="ij")
        run(ii.ravel(), jj.ravel())
        return out[0], out[1], out[2]
    ci = np.unique(np.r_[np.arange(0, ns, 2), ns - 1])
    cj = np.unique(np.r_[np.arange(0, nm, 2), nm - 1])
    ii, jj = np.meshgrid(ci, cj, indexing="ij")
    run(ii.ravel(), jj.ravel())
    cls = risk_classes(*out[:, ci][:, :, cj], risk_level)
    mixed = np.zeros((len(ci) - 1, len(cj) - 1), dtype=bool)
    for a in (0, 1):
        for b in (0, 1):
            mixed |= cls[a:len(ci) - 1 + a, b:len(cj) - 1 + b] != cls[:-1, :-1]
    todo = np.zeros((ns, nm), dtype=bool)
    for a, b in zip(*np.nonzero(mixed)):
        todo[ci[a]:ci[a + 1] + 1, cj[b]:cj[b + 1] + 1] = True
    todo &= np.isnan(out[0])
    run(*np.nonzero(todo))
    # the rest: bilinear from the coarse corners (same class as the corners)
    for k in range(3):
        coarse = out[k][ci][:, cj]
        along_m = np.stack([np.interp(np.arange(nm), cj, row) for row in coarse])
        full = np.stack([np.interp(np.arange(ns), ci, col) for col in along_m.T], axis=1)
        out[k] = np.where(np.isnan(out[k]), full, out[k])
    return out[0], out[1], out[2]


@style.styled
def figure(width: int = 300, depth: int = 100, n: int = 40, q_star: float = 1.0,
           s_range: tuple[float, float] = (0.5, 0.95),
           m_range: tuple[float, float] = (0.05, 4.0), risk_level: float = 0.05,
           refine: bool = True) -> Figure:
    """Two panels (CReLU, CST): predicted risk over (s, m), V'(q*) curves, risk boundary."""
    fig = style.new_figure(8.4, 4.5)
    axes = fig.subplots(1, 2)
    s = np.linspace(*s_range, n)
    m = np.linspace(*m_range, n)
    for ax, name in zip(axes, ("crelu", "cst")):
        act = eoc.get_activation(name)
        risk, drift, grad = risk_grid(act, s, m, width=width, depth=depth, q_star=q_star,
                                      risk_level=risk_level, refine=refine)
        cf = ax.contourf(s, m, risk.T, levels=list(RISK_LEVELS), colors=list(RISK_COLOURS))
        cf.set_gid(f"{name}-risk")
        dom = ((risk >= risk_level) & (grad > drift)).astype(float)
        if dom.any():
            with mpl.rc_context({"hatch.color": "white", "hatch.linewidth": 0.8}):
                hf = ax.contourf(s, m, dom.T, levels=[0.5, 1.5], colors="none",
                                 hatches=[HATCH])
            hf.set_gid(f"{name}-gradient")
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
            (ln,) = ax.plot(seg[:, 0], seg[:, 1], color=style.PALETTE[4], lw=2.2)
            ln.set_gid(f"{name}-risk{risk_level:g}" + (f"-{k}" if k else ""))
        ax.set_xlim(*s_range)
        ax.set_ylim(*m_range)
        ax.set_title(f"{style.math(act.label)}: $N={width}$, $L={depth}$, $q^*={q_star:g}$")
        ax.set_xlabel("sparsity $s$")
        ax.set_ylabel("clipping height $m$")
        ax.grid(False)
    top = [Patch(facecolor=c, edgecolor="0.5", label=f"risk {a:g}-{b:g}")
           for c, a, b in zip(RISK_COLOURS, RISK_LEVELS[:-1], RISK_LEVELS[1:])]
    bottom = [Line2D([], [], color="k", lw=1.2, ls=SLOPE_STYLE[t], label=f"$V'(q^*)={t:g}$")
              for t in SLOPES]
    bottom.append(Line2D([], [], color=style.PALETTE[4], lw=2.2,
                         label=f"risk $={risk_level:g}$ boundary"))
    with mpl.rc_context({"hatch.color": "white", "hatch.linewidth": 0.8}):
        bottom.append(Patch(facecolor=RISK_COLOURS[3], edgecolor="0.5", hatch=HATCH,
                            label="gradients fail more than drift"))
    handles = [h for pair in zip(top, bottom) for h in pair]  # legend fills by column
    leg = fig.legend(handles=handles, loc="outside lower center", ncol=len(top), fontsize=7)
    leg.set_title("risk = P(drift: $|s(q^l)-s(q^*)|>0.1$ or $\\chi_1(q^l)/\\chi_1(q^*)"
                  "\\notin[1/2,2]$) + P($\\|\\delta^1\\|/\\|\\delta^L\\|\\notin"
                  "[10^{-3},10^3]$)", prop={"size": 7})
    return fig
