r"""Plain against residual MLPs at 85 % sparsity (beyond the paper, its future work item 2).

ReLU_tau, ST_tau, CReLU and CST (the clipped ones with :math:`V'(q^*) = 0.7`), each at
sparsity :math:`s = 0.85` at the design variance :math:`q_\text{ref} = q^* = 1`, in a
plain EoC network (paper eq. 1) and in a residual MLP with one-layer branches
:math:`h^{l+1} = h^l + \alpha(W\phi(h^l) + b)` whose branches are initialised on the same
EoC point (:mod:`eoctheory.theory.resnet`). Width :math:`N = 300`, depth :math:`L = 100`,
:math:`\alpha = 1/\sqrt L` unless stated. Lines: infinite-width theory; markers: NumPy
reference networks (mean over seeds; gradient ratios as geometric means).

(a) Residual, fixed thresholds: the sparsity :math:`s^l` of block :math:`l` against the
    theory :math:`s(q^l)` along the growing :math:`q^l = q^{l-1} + \alpha^2 V(q^{l-1})`:
    it drifts (towards 1/2 for ReLU_tau and CReLU, 0 for ST_tau and CST).
(b) Residual, thresholds that follow :math:`\sqrt{\bar q^l}` (:math:`\tau_l = \tau_0
    \sqrt{\bar q^l/q_\text{ref}}`, :math:`m_l` likewise): the sparsity stays at 0.85.
(c) Gradient ratio :math:`\|\delta^l\|/\|\delta^L\|` along depth: plain networks
    (dashed theory line at 1, open markers measured) against residual networks with
    thresholds that follow (solid theory :math:`\prod_{k\ge l}(1+\alpha^2\chi_{b,k})^{1/2}`,
    filled markers).
(d) Finite-width risk (:func:`~eoctheory.theory.resnet.predict_resnet`, drift of
    :math:`s` or :math:`\chi_b`, or :math:`\|\delta^0\|/\|\delta^L\| \notin [10^{-3},
    10^3]`) against :math:`\alpha`, thresholds following (solid) or fixed (dashed); the
    plain network's risk (:func:`eoctheory.theory.finite_width.predict`) as a dotted
    horizontal line; markers: the failed fraction of reference networks
    (:func:`eoctheory.nets.resnet.simulate_resnet`, same failure definitions).

Line gids: ``{act}-{panel}-theory`` / ``-measured`` for panels a-c, ``{act}-risk-follow``,
``{act}-risk-fixed``, ``{act}-risk-plain`` and ``{act}-risk-measured`` for panel d.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import eoctheory as eoc
from eoctheory.nets import Network, correlated_inputs, seed_rng
from eoctheory.nets.resnet import ResNet, simulate_resnet
from eoctheory.theory import finite_width as fw
from eoctheory.theory.resnet import VarianceOverflowError, predict_resnet, residual_trajectory

from . import style

#: name -> resolve_setting keywords (s = 0.85; V'(q*) = 0.7 for the clipped ones)
SETTINGS = {
    "relu": dict(sparsity=0.85),
    "st": dict(sparsity=0.85),
    "crelu": dict(sparsity=0.85, target_slope=0.7),
    "cst": dict(sparsity=0.85, target_slope=0.7),
}
COLOURS = {"relu": style.PALETTE[0], "st": style.PALETTE[1], "crelu": style.PALETTE[3],
           "cst": style.PALETTE[4]}
MARKERS = {"relu": "o", "st": "s", "crelu": "D", "cst": "^"}


def _measure_resnet(act: str, kw: dict, *, width: int, depth: int, seeds: int, follow: bool,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean sparsity (L,) and geometric-mean gradient ratio (L+1,) over seeds."""
    S, G = [], []
    for k in range(seeds):
        net = ResNet(act, width=width, depth=depth, tau_follows_q=follow, dtype=np.float32,
                     rng=seed_rng(seed, k), **kw)
        gen = seed_rng(seed, seeds + k)
        rec = net.forward(correlated_inputs(4, width, q=1.0, rho=0.5, rng=gen), pairs=None)
        back = net.backward(grad_output=gen.standard_normal(rec.output.shape))
        S.append(rec.sparsity)
        G.append(np.log(back.grad_h_norm / back.grad_h_norm[-1]))
    return np.mean(S, axis=0), np.exp(np.mean(G, axis=0))


def _measure_plain(st, *, width: int, depth: int, seeds: int, seed: int) -> np.ndarray:
    """Geometric-mean :math:`\\|\\delta^l\\|/\\|\\delta^L\\|` (L,) of plain EoC networks."""
    G = []
    for k in range(seeds):
        # float64: the plain ReLU_tau / ST_tau ratios reach 1e40, beyond float32
        net = Network.from_init(st, [width] * (depth + 1), first_layer="preserve",
                                rng=seed_rng(seed, k))
        gen = seed_rng(seed, seeds + k)
        rec = net.forward(correlated_inputs(4, width, q=1.0, rho=0.5, rng=gen), pairs=None)
        back = net.backward(grad_output=gen.standard_normal(rec.output.shape))
        with np.errstate(all="ignore"):
            G.append(np.log(back.grad_h_norm / back.grad_h_norm[-1]))
    return np.exp(np.mean(G, axis=0))


@style.styled
def figure(width: int = 300, depth: int = 100, seeds: int = 2, risk_seeds: int = 6,
           alphas=(0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0), measured_alphas=(0.3,),
           activations=tuple(SETTINGS), seed: int = 0) -> Figure:
    """Four panels: residual sparsity (fixed / following tau), gradient ratios, risk vs alpha."""
    fig = style.new_figure(8.6, 6.6)
    axes = fig.subplots(2, 2).ravel()
    a0 = 1.0 / math.sqrt(depth)
    blocks = np.arange(depth)
    states = np.arange(depth + 1)
    handles = []
    for j, act in enumerate(activations):
        kw = SETTINGS[act]
        col, mk = COLOURS[act], MARKERS[act]
        st = eoc.resolve_setting(act, **kw)
        sub = slice(j % 4, None, 6)  # markers every 6th layer, staggered by activation
        for ax, follow, panel in ((axes[0], False, "fixed"), (axes[1], True, "follow")):
            tr = residual_trajectory(act, depth=depth, tau_follows_q=follow, **kw)
            (ln,) = ax.plot(blocks, tr.sparsity, color=col, lw=1.3, zorder=3)
            ln.set_gid(f"{act}-{panel}-theory")
            s_m, g_m = _measure_resnet(act, kw, width=width, depth=depth, seeds=seeds,
                                       follow=follow, seed=seed + 10 * j + int(follow))
            (pt,) = ax.plot(blocks[sub], s_m[sub], ls="none", marker=mk, ms=3.5, color=col,
                            zorder=4)
            pt.set_gid(f"{act}-{panel}-measured")
        # (c) gradient ratios: residual (thresholds follow) and plain
        ax = axes[2]
        (ln,) = ax.plot(states, tr.gradient_ratio, color=col, lw=1.3, zorder=3)
        ln.set_gid(f"{act}-gradient-theory")
        (pt,) = ax.plot(states[sub], g_m[sub], ls="none", marker=mk, ms=3.5, color=col,
                        zorder=4)
        pt.set_gid(f"{act}-gradient-measured")
        g_p = _measure_plain(st, width=width, depth=depth, seeds=seeds, seed=seed + 100 + j)
        lp = np.arange(1, depth + 1)
        (pt,) = ax.plot(lp[sub], g_p[sub], ls="none", marker=mk, ms=3.5, color=col,
                        mfc="white", mew=0.9, zorder=4)
        pt.set_gid(f"{act}-gradient-plain-measured")
        # (d) risk against alpha
        ax = axes[3]
        for follow, ls, tag in ((True, "-", "follow"), (False, "--", "fixed")):
            r = []
            for a in alphas:
                try:
                    r.append(predict_resnet(act, width=width, depth=depth, alpha=a,
                                            tau_follows_q=follow, **kw).risk)
                except VarianceOverflowError:
                    r.append(1.0)
            (ln,) = ax.plot(alphas, r, color=col, ls=ls, lw=1.3, zorder=3)
            ln.set_gid(f"{act}-risk-{tag}")
        rp = fw.predict(act, width=width, depth=depth, **kw).risk
        ln = ax.axhline(rp, color=col, ls=":", lw=1.2, zorder=2)
        ln.set_gid(f"{act}-risk-plain")
        fr = [simulate_resnet(act, width=width, depth=depth, seeds=risk_seeds, alpha=a,
                              dtype=np.float32, seed=seed + 200 + j, **kw).failed
              for a in measured_alphas]
        (pt,) = ax.plot(measured_alphas, fr, ls="none", marker=mk, ms=4.5, color=col,
                        zorder=4)
        pt.set_gid(f"{act}-risk-measured")
        handles.append(Line2D([], [], color=col, marker=mk, ms=4, lw=1.3,
                              label=style.math(st.activation.label)))
    ax = axes[0]
    ax.set_title(f"(a) residual, fixed $\\tau$ ($\\alpha = 1/\\sqrt{{L}}$)")
    axes[1].set_title("(b) residual, $\\tau_l, m_l \\propto \\sqrt{\\bar q^l}$")
    for ax in axes[:2]:
        ax.set_xlabel("block $l$")
        ax.set_ylabel("sparsity $s^l$")
        ax.set_ylim(-0.03, 1.0)
        ax.axhline(0.85, color=style.REF, ls="--", lw=0.8, zorder=1)
    ax = axes[2]
    ax.set_yscale("log")
    ax.axhline(1.0, color=style.REF, ls="--", lw=0.9, zorder=1)
    ax.set_title("(c) gradients: plain EoC (open) vs residual (filled)")
    ax.set_xlabel("layer / block $l$")
    ax.set_ylabel("$\\|\\delta^l\\| / \\|\\delta^L\\|$")
    ax = axes[3]
    ax.set_xscale("log")
    ax.set_title(f"(d) finite-width risk, $N={width}$, $L={depth}$")
    ax.set_xlabel("branch scale $\\alpha$")
    ax.set_ylabel("risk")
    ax.set_ylim(-0.03, 1.05)
    ax.axvline(a0, color=style.REF, ls="-", lw=0.6, zorder=1)
    ax.text(a0 * 1.05, 0.5, "$1/\\sqrt{L}$", fontsize=7.5, color=style.REF, rotation=90,
            va="center")
    handles += [
        Line2D([], [], color="0.3", lw=1.3, label="theory"),
        Line2D([], [], color="0.3", ls="none", marker="o", ms=4,
               label=f"reference nets, $N={width}$"),
        Line2D([], [], color="0.3", ls="none", marker="o", ms=4, mfc="white",
               label="plain net (c)"),
        Line2D([], [], color="0.3", ls="--", lw=1.3, label="fixed $\\tau$ (d)"),
        Line2D([], [], color="0.3", ls=":", lw=1.2, label="plain net (d)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=5)
    fig.suptitle("Plain and residual MLPs at sparsity 0.85 (EoC branches, "
                 "$h^{l+1} = h^l + \\alpha(W\\phi(h^l)+b)$)", fontsize=10)
    return fig
