r"""2-D CNN against the theory (beyond the paper): variance, sparsity and correlations by layer.

A random 2-D CNN (:class:`eoctheory.nets.cnn2d.CNN2d`, NumPy reference: :math:`3 \times 3`
kernels, :math:`C = 64` channels, :math:`16 \times 16` images, depth :math:`L = 30`,
circular padding, float32) at three initialisations: CReLU (:math:`s = 0.7`) and CST
(:math:`s = 0.85`) on the EoC at :math:`q^* = 1` with :math:`V'(q^*) = 0.7`, and the plain
ReLU (:math:`\sigma_w^2 = 2`, :math:`\sigma_b^2 = 0`) for contrast. Markers: the measured
value, mean :math:`\pm` sd over independently drawn networks (seeds); lines: the
infinite-channel theory. Panels:

(a) :math:`q^l`, the mean square of :math:`h^l` per channel and position, against
    :math:`q^{l+1} = V(q^l)` (eq. 3) from :math:`q^1 = q_\text{in} = 2 \ne q^*`;
(b) the sparsity of :math:`\phi(h^l)` against :math:`s(q^l)` (eq. 12) along that
    :math:`q^l`;
(c) the cosine correlation :math:`\rho^l` of :math:`h^l` between two inputs whose channel
    vectors have cosine 0.3 at every position;
(d) the correlation :math:`c^l` between horizontally and vertically neighbouring positions
    of the same input (mean of the two lags), which starts near 0.5 (smoothed images).

Correlations follow the covariance map at the current variance,

.. math::

   c^{l+1} = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_1)\phi(u_2)] + \sigma_b^2}{V(q^l)}
           = R_{q^l}(c^l)\,\frac{q^l}{V(q^l)},

:math:`(u_1, u_2)` Gaussian with variances :math:`q^l` and correlation :math:`c^l`
(:func:`eoctheory.theory.correlation.correlation_map` at ``q_star = q^l``); at
:math:`q^l = q^*` this is the map :math:`R` of eq. 6.

Assumptions
-----------
* Circular padding: every position sees :math:`k^2 C` inputs and all positions are
  statistically identical, so one position's variance follows the fully connected map
  :math:`V` (Xiao et al. 2018). Zero padding breaks this at the border: an edge position
  of a :math:`k = 3` network gets :math:`6/9` of the weight sum, a corner :math:`4/9`, and
  border lags no longer evolve like interior ones.
* The infinite-channel limit :math:`C \to \infty` (the lines); at :math:`C = 64` the
  measured values carry :math:`O(1/\sqrt C)` seed-to-seed spread and an :math:`O(1/C)` bias.
  For the plain ReLU, :math:`V(q) = q` is neutral: :math:`\mathbb E[q^l] = q^1` exactly,
  but :math:`\log q^l` performs a random walk, so its spread grows with depth and the mean
  of a few seeds (skewed distribution) typically lies below the line.
* The neighbour correlation follows the same map as the input correlation: weights are
  shared across positions and independent across kernel offsets, so under circular
  padding the covariance at spatial lag :math:`e` after a layer is the mean over offsets
  :math:`d` of the covariance at lag :math:`e` before it -- each lag evolves on its own under
  the same :math:`R` (at infinite width).
* Inputs: every position's channel vector has :math:`\|x\|^2/C_0 = q_\text{in}` exactly and
  the two inputs have cosine exactly :math:`\rho_\text{in}` at every position (as
  :func:`eoctheory.nets.correlated_inputs`, but drawn from white noise smoothed by a circular
  :math:`2 \times 2` box, so that neighbours start correlated). The first layer preserves
  the input's statistics (``first_layer="preserve"``: :math:`b^1 = 0`,
  :math:`W^1 \sim N(0, 1/(k^2 C_0))`), so the theory starts at layer 1 from the inputs'
  own :math:`q`, pair cosine and lag correlations.

Line gids: ``{setting}-{q|sparsity|rho|spatial}-theory`` and ``-measured`` (the markers).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import eoctheory as eoc
from eoctheory.nets import seed_rng
from eoctheory.nets.cnn2d import CNN2d, lag_correlation, smooth_pair  # noqa: F401
from eoctheory.nets.cnn2d import cnn2d_theory as theory

from . import style

#: name -> (activation, resolve_setting keywords, legend label)
SETTINGS = {
    "crelu": ("crelu", dict(sparsity=0.7, target_slope=0.7)),
    "cst": ("cst", dict(sparsity=0.85, target_slope=0.7)),
    "relu": ("plain_relu", {}),
}
COLOURS = {"crelu": style.PALETTE[3], "cst": style.PALETTE[4], "relu": style.PALETTE[0]}
MARKERS = {"crelu": "o", "cst": "s", "relu": "^"}
QUANTITIES = ("q", "sparsity", "rho", "spatial")
#: input channels of the images
IN_CHANNELS = 16


def measure(setting, x: np.ndarray, *, channels: int, depth: int, seeds: int,
            seed: int = 0) -> dict[str, np.ndarray]:
    """Per-seed records ``(seeds, L)``: q (mean over inputs), sparsity, pair rho and the
    neighbour correlation (mean of the two lags)."""
    out = {k: np.empty((seeds, depth)) for k in QUANTITIES}
    for k in range(seeds):
        net = CNN2d.from_init(setting, x.shape[1], channels, depth, first_layer="preserve",
                              dtype=np.float32, rng=seed_rng(seed, k))
        rec = net.forward(x, keep=False, pairs=[[0, 1]])
        out["q"][k] = rec.q.mean(axis=1)
        out["sparsity"][k] = rec.sparsity
        out["rho"][k] = rec.rho[:, 0]
        out["spatial"][k] = rec.spatial_rho.mean(axis=1)
    return out


@style.styled
def figure(channels: int = 64, size: int = 16, depth: int = 30, seeds: int = 4,
           q_in: float = 2.0, rho_in: float = 0.3, settings=tuple(SETTINGS),
           seed: int = 0) -> Figure:
    """Four panels (q, sparsity, input correlation, neighbour correlation) by layer."""
    x = smooth_pair(IN_CHANNELS, size, q=q_in, rho=rho_in, rng=np.random.default_rng(seed))
    xf = x.astype(np.float32)  # the network's dtype: the theory starts from what it sees
    xd = xf.astype(np.float64)
    q1 = float(np.mean(xd * xd))
    a, b = xd[0].ravel(), xd[1].ravel()
    rho1 = float(a @ b / np.sqrt((a @ a) * (b @ b)))
    lag1 = lag_correlation(xd)
    fig = style.new_figure(8.2, 6.0)
    axes = fig.subplots(2, 2, sharex=True).ravel()
    layers = np.arange(1, depth + 1)
    handles = []
    for j, key in enumerate(settings):
        act_name, kw = SETTINGS[key]
        st = eoc.resolve_setting(act_name, **kw)
        tq, ts, tc = theory(st, q1, np.r_[rho1, lag1], depth)
        th = {"q": tq, "sparsity": ts, "rho": tc[:, 0], "spatial": tc[:, 1:].mean(axis=1)}
        meas = measure(st, xf, channels=channels, depth=depth, seeds=seeds,
                       seed=seed + 1 + j)
        col, mk = COLOURS[key], MARKERS[key]
        dx = (j - (len(settings) - 1) / 2) * 0.18  # markers side by side, not on top
        for ax, qty in zip(axes, QUANTITIES):
            (ln,) = ax.plot(layers, th[qty], color=col, lw=1.3, zorder=3)
            ln.set_gid(f"{key}-{qty}-theory")
            m = meas[qty].mean(axis=0)
            sd = meas[qty].std(axis=0, ddof=1) if seeds > 1 else np.zeros(depth)
            eb = ax.errorbar(layers + dx, m, yerr=sd, ls="none", marker=mk, ms=3.2,
                             color=col, mfc="white", mew=0.9, elinewidth=0.8, capsize=0,
                             zorder=4)
            eb.lines[0].set_gid(f"{key}-{qty}-measured")
        if key == "relu":
            label = f"{style.math(st.activation.label)}: $\\sigma_w^2=2$, $\\sigma_b^2=0$"
        else:
            label = (f"{style.math(st.activation.label)}: $s={st.sparsity:g}$, "
                     f"$V'(q^*)={st.variance_slope:.2g}$")
        handles.append(Line2D([], [], color=col, marker=mk, mfc="white", mew=0.9, ms=4,
                              lw=1.3, label=label))
    titles = ("(a) variance", "(b) sparsity", "(c) correlation between the two inputs",
              "(d) correlation between neighbouring positions")
    ylabels = ("$q^l$", "$s^l$", "$\\rho^l$", "$c^l$ (lags (0,1), (1,0))")
    for ax, t, yl in zip(axes, titles, ylabels):
        ax.set_title(t)
        ax.set_ylabel(yl)
        ax.set_xlabel("layer $l$")
        ax.tick_params(labelbottom=True)
        ax.set_xlim(0, depth + 1)
    axes[0].axhline(1.0, color=style.REF, ls="--", lw=0.9, zorder=1)
    axes[0].text(0.4, 0.97, "$q^*$", ha="left", va="top", fontsize=8, color=style.REF)
    handles += [Line2D([], [], color="0.3", lw=1.3, label="theory ($C\\to\\infty$)"),
                Line2D([], [], color="0.3", ls="none", marker="o", mfc="white", ms=4,
                       label=f"measured ($C={channels}$): mean $\\pm$ sd, {seeds} seeds")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3)
    fig.suptitle(f"2-D CNN ($3\\times3$, circular padding, {size}$\\times${size} images, "
                 f"$q_{{in}}={q_in:g}$, $\\rho_{{in}}={rho_in:g}$) against the "
                 "infinite-width maps", fontsize=10)
    return fig
