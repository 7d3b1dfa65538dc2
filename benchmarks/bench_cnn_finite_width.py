"""The finite-width predictor on 2-D CNNs: which number plays the width?

For each setting, ``--seeds`` random circular-padding 2-D CNNs (:class:`eoctheory.nets.CNN2d`,
kernel 3, the variance-preserving first layer, one pair of smoothed ``--image`` x ``--image``
inputs of :func:`eoctheory.nets.cnn2d.smooth_pair`, neighbour correlation ~0.5) are run
forward and backward (a standard Gaussian output gradient). Per seed: the measured
:math:`q^l` (mean of :math:`h^2` over channels and positions of each image, then over the
pair), whether it drifted (:func:`eoctheory.nets.simulation.failures`, the predictor's own
definition) and the first-to-last gradient ratio :math:`\\|\\delta^1\\|/\\|\\delta^L\\|`.

Beside them: the DNN predictor (:func:`eoctheory.theory.finite_width.predict`) at
``N = C`` (the channels: what ``check --arch cnn2d`` uses) and at ``N = C x H x W`` (every
position independent). The table prints the spread of :math:`\\log q^L` across seeds
(measured: sample sd; predicted: interquartile range / 1.349 of the free chain), the
measured failure fraction (drift, or a gradient ratio beyond 1e3 either way) with its
binomial standard error, and the predicted risk.

Run: ``python benchmarks/bench_cnn_finite_width.py [--seeds 24] [--quick]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import eoctheory as eoc
from eoctheory.nets.cnn2d import CNN2d, smooth_pair
from eoctheory.nets.network import seed_rng
from eoctheory.nets.simulation import failures
from eoctheory.theory import finite_width as fw

SETTINGS = [
    ("plain_relu", {}),
    ("relu", {"sparsity": 0.6}),
    ("st", {"sparsity": 0.5}),
    ("crelu", {"sparsity": 0.7, "target_slope": 0.5}),
    ("crelu", {"sparsity": 0.8, "target_slope": 0.9}),
    ("crelu", {"sparsity": 0.85, "target_slope": 0.9}),
    ("cst", {"sparsity": 0.85, "target_slope": 0.7}),
]


def measure(name: str, kw: dict, channels: int, depth: int, image: int, seeds: int):
    st = eoc.resolve_setting(name, **kw)
    rng = seed_rng(12345, 10**6)
    x = smooth_pair(channels, image, q=st.q_star, rho=0.5, rng=rng)
    q = np.empty((seeds, depth))
    grad = np.empty((seeds, depth))
    for i in range(seeds):
        net = CNN2d.from_init(st, channels, channels, depth, first_layer="preserve",
                              rng=seed_rng(7, i))
        rec = net.forward(x, keep=True)
        q[i] = rec.q.mean(axis=1)
        g = np.random.default_rng([7, i, 1]).standard_normal(rec.output.shape)
        grad[i] = net.backward(grad_output=g).grad_h_norm
    f = failures(st, q, grad)
    return st, q, grad, f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--channels", type=int, nargs="+", default=[32])
    ap.add_argument("--depth", type=int, default=30)
    ap.add_argument("--image", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="three settings only")
    a = ap.parse_args()
    settings = SETTINGS[1:2] + SETTINGS[3:5] if a.quick else SETTINGS
    print(f"2-D CNN, kernel 3, circular, depth {a.depth}, image {a.image}x{a.image}, "
          f"{a.seeds} seeds per row")
    print(f"| setting | C | sd log q^L measured | predicted N=C | N=C*HW | "
          f"failed measured | risk N=C | risk N=C*HW | med log10 grad ratio meas / pred |")
    print("|---|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for C in a.channels:
        for name, kw in settings:
            st, q, grad, f = measure(name, kw, C, a.depth, a.image, a.seeds)
            lq = np.log(q[:, -1] / st.q_star)
            fail = f.failed.mean()
            se = np.sqrt(max(fail * (1 - fail), 1 / a.seeds) / a.seeds)
            with np.errstate(divide="ignore"):  # a seed whose gradient died: -inf
                ratio = np.log10(grad[:, 0] / grad[:, -1])
            row = [f"{name} {' '.join(f'{k}={v:g}' for k, v in kw.items())}", f"{C}",
                   f"{lq.std(ddof=1):.3f}"]
            preds = []
            for N in (C, C * a.image ** 2):
                p = fw.predict(st.activation, width=N, depth=a.depth, q_star=st.q_star,
                               sigma_w2=st.sigma_w2, sigma_b2=st.sigma_b2, **st.params)
                qq = np.log(p.q_quantiles[-1] / st.q_star)
                row.append(f"{(qq[3] - qq[1]) / 1.349:.3f}")
                preds.append(p)
            row.append(f"{fail:.2f} +- {se:.2f}")
            row += [f"{p.risk:.2f}" for p in preds]
            row.append(f"{np.median(ratio):+.2f} / "
                       f"{np.log10(preds[0].gradient_quantile(0.5)):+.2f}")
            print("| " + " | ".join(row) + " |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
