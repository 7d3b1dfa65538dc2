"""Seconds per training epoch of the paper's DNN in torch, against a plain nn.Sequential ReLU.

    python benchmarks/bench_torch.py [--threads N] [--batch-size B] [--steps S] [--repeat R]

The depth-100, width-300 DNN of the paper (Sec. 4) built by ``eoctheory.nets.torch.dnn``
with each sparsifying activation (EoC-initialised; the modules' kernels are generated from
the SymPy definitions, ``benchmarks/bench_kernels.py`` sets them beside hand-written
ones), with and without the training harness's
monitors attached (disabled, as during most of training), against the practical limit: a
plain ``torch.nn.Sequential`` of ``Linear(784, 300), ReLU, ..., Linear(300, 10)`` of the
same shape. Each configuration trains ``--steps`` SGD steps (cross-entropy, lr 1e-3) on
MNIST-shaped random inputs; the time per step is scaled to one epoch of 54,000 images (the
90% training split). Configurations are timed in interleaved rounds and the median over
``--repeat`` rounds is reported, so load from other processes hits all of them alike.
Target: within 1.3x of the plain ReLU network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from eoctheory.nets import torch as et  # noqa: E402

DEPTH, WIDTH, N_IN, N_CLASSES, EPOCH = 100, 300, 784, 10, 54_000


def plain_relu() -> nn.Sequential:
    mods: list[nn.Module] = []
    n = N_IN
    for _ in range(DEPTH):
        mods += [nn.Linear(n, WIDTH), nn.ReLU()]
        n = WIDTH
    mods.append(nn.Linear(n, N_CLASSES))
    return nn.Sequential(*mods)


def eoc_model(name: str, sparsity: float | None, monitors: bool = False):
    act = et.make_activation(name, sparsity=sparsity)
    model = et.dnn(N_IN, WIDTH, DEPTH, N_CLASSES, act, flatten=False)
    et.eoc_init_(model, act, generator=torch.Generator().manual_seed(0))
    mons = []
    if monitors:
        sp, gm = et.SparsityMonitor(model), et.GradientMonitor(model)
        sp.enabled = gm.enabled = False
        mons = [sp, gm]
    return model, mons


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: leave)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=40, help="SGD steps per timing")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved rounds (median)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, N_IN)
    y = torch.randint(0, N_CLASSES, (args.batch_size,))
    configs = {"nn.Sequential + nn.ReLU (limit)": plain_relu()}
    keep = []
    for label, name, s, mon in [("ReLU_tau s=0.6", "relu", 0.6, False),
                                ("ST_tau s=0.6", "st", 0.6, False),
                                ("CReLU s=0.85 V'=0.7", "crelu", 0.85, False),
                                ("CST s=0.85 V'=0.7", "cst", 0.85, False),
                                ("CReLU s=0.85 + monitors (off)", "crelu", 0.85, True)]:
        model, mons = eoc_model(name, s, mon)
        keep += mons
        configs[label] = model
    steps = {k: make_step(m, x, y) for k, m in configs.items()}
    times: dict[str, list[float]] = {k: [] for k in configs}
    for fn in steps.values():  # warm-up
        for _ in range(3):
            fn()
    for _ in range(args.repeat):
        for k, fn in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[k].append((time.perf_counter() - t) / args.steps)
    base = statistics.median(times["nn.Sequential + nn.ReLU (limit)"])
    print(f"depth {DEPTH}, width {WIDTH}, batch {args.batch_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); s/epoch = s/step x {EPOCH}/batch")
    print(f"{'network':34s} {'ms/step':>8s} {'s/epoch':>8s} {'ratio':>6s}")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:34s} {1e3 * med:8.2f} {med * EPOCH / args.batch_size:8.1f} "
              f"{med / base:6.2f}")
    worst = max(statistics.median(ts) for ts in times.values()) / base
    print(f"worst ratio {worst:.2f} (target <= 1.3): {'PASS' if worst <= 1.3 else 'FAIL'}")


if __name__ == "__main__":
    main()
