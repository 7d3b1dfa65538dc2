"""Seconds per training step/epoch of the paper's CNN in torch, against a plain Conv2d+ReLU.

    python benchmarks/bench_torch_cnn.py [--threads N] [--steps S] [--repeat R] [--paper]

``eoctheory.nets.torch.cnn`` (circular-padded ``Conv2d`` layers, global average pooling,
``Linear`` readout), EoC-initialised with ``eoc_init_`` and with the training harness's
monitors attached but idle (``SparsityMonitor`` and ``GradientMonitor`` with
``enabled=False``, as ``eoctheory.experiments.train.train`` leaves them after the first
steps), for CReLU, CST and a user's expression activation, against the practical limit: a
plain ``nn.Sequential`` of ``nn.Conv2d(padding=1, padding_mode="circular")`` + ``nn.ReLU()``
of the same shape with the same pooling and readout. Each timing is ``--steps`` SGD steps
(cross-entropy, lr 1e-3) on random inputs; configurations are timed in interleaved rounds
(the order alternates each round) and the best of ``--repeat`` rounds is reported, so load
from other processes hits all alike. Seconds per epoch = s/step x 54,000 / batch.

Shapes: a reduced one (depth 16, 48 channels, 1x28x28, batch 32) and, with ``--paper``,
the paper's (depth 50, 300 channels, 3x32x32, batch 64) for a few steps.
Target: every ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from eoctheory.engine.activations import Activation  # noqa: E402
from eoctheory.nets import torch as et  # noqa: E402

N_CLASSES, EPOCH = 10, 54_000
#: a user's activation: a clipped ramp (piecewise linear, slope 2 on (0.3, 1))
CUSTOM = "Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))"
PLAIN = "nn.Sequential Conv2d+ReLU"


def plain_cnn(c_in: int, channels: int, depth: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    c = c_in
    for _ in range(depth):
        mods += [nn.Conv2d(c, channels, 3, padding=1, padding_mode="circular"), nn.ReLU()]
        c = channels
    mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, N_CLASSES)]
    return nn.Sequential(*mods)


def activations() -> dict[str, nn.Module]:
    return {"CReLU s=0.7 V'=0.7": et.make_activation("crelu", sparsity=0.7, target_slope=0.7),
            "CST s=0.7 V'=0.7": et.make_activation("cst", sparsity=0.7, target_slope=0.7),
            "custom ramp expr": et.activation_module(Activation.from_string(CUSTOM))}


def eoc_cnn(c_in: int, channels: int, depth: int, act: nn.Module):
    model = et.cnn(c_in, channels, depth, N_CLASSES, act, kernel_size=3, dim=2)
    et.eoc_init_(model, act, generator=torch.Generator().manual_seed(0))
    sp, gm = et.SparsityMonitor(model), et.GradientMonitor(model)
    sp.enabled = gm.enabled = False
    return model, [sp, gm]


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def bench(shape: tuple[int, int, int, int, int], steps: int, repeat: int,
          only: list[str] | None = None) -> dict[str, float]:
    depth, channels, c_in, side, batch = shape
    torch.manual_seed(0)
    x = torch.randn(batch, c_in, side, side)
    y = torch.randint(0, N_CLASSES, (batch,))
    configs: dict[str, nn.Module] = {PLAIN: plain_cnn(c_in, channels, depth)}
    keep = []
    for label, act in activations().items():
        if only and label not in only:
            continue
        model, mons = eoc_cnn(c_in, channels, depth, act)
        keep += mons
        configs[label] = model
    fns = {k: make_step(m, x, y) for k, m in configs.items()}
    for fn in fns.values():  # warm-up
        fn()
    best = {k: float("inf") for k in fns}
    order = list(fns)
    for r in range(repeat):
        for k in (order if r % 2 == 0 else order[::-1]):
            t = time.perf_counter()
            for _ in range(steps):
                fns[k]()
            best[k] = min(best[k], (time.perf_counter() - t) / steps)
    return best


def report(shape, best: dict[str, float], steps: int, repeat: int) -> float:
    depth, channels, c_in, side, batch = shape
    name = f"d{depth} c{channels} {c_in}x{side}x{side} b{batch}"
    base = best[PLAIN]
    worst = 0.0
    for k, t in best.items():
        ratio = t / base
        worst = max(worst, ratio)
        print(f"{name:24s} {k:26s} {t:9.4f} {t * EPOCH / batch:9.1f} {ratio:6.2f} "
              f"{torch.get_num_threads():>7d}   best of {repeat}x{steps}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: leave)")
    ap.add_argument("--steps", type=int, default=5, help="SGD steps per timing")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (best of)")
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--channels", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--paper", action="store_true",
                    help="also the paper's shape (depth 50, 300 channels, 3x32x32, batch 64)")
    ap.add_argument("--paper-depth", type=int, default=50,
                    help="depth for the paper shape (a slice: per-layer cost is what scales)")
    ap.add_argument("--paper-batch", type=int, default=64)
    ap.add_argument("--paper-steps", type=int, default=1)
    ap.add_argument("--paper-repeat", type=int, default=2)
    ap.add_argument("--paper-only", default=None,
                    help="comma-separated activation labels for the paper shape (default all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; s/epoch = s/step x {EPOCH}/batch; target ratio <= 1.3")
    print(f"{'shape':24s} {'activation':26s} {'s/step':>9s} {'s/epoch':>9s} {'ratio':>6s} "
          f"{'threads':>7s}")
    shape = (args.depth, args.channels, 1, 28, args.batch_size)
    worst = report(shape, bench(shape, args.steps, args.repeat), args.steps, args.repeat)
    if args.paper:
        paper = (args.paper_depth, 300, 3, 32, args.paper_batch)
        only = args.paper_only.split(",") if args.paper_only else None
        worst = max(worst, report(paper, bench(paper, args.paper_steps, args.paper_repeat,
                                               only), args.paper_steps, args.paper_repeat))
    print(f"worst ratio {worst:.2f} (target <= 1.3): {'PASS' if worst <= 1.3 else 'FAIL'}")


if __name__ == "__main__":
    main()
