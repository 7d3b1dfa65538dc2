"""Generated activation kernels against hand-written ones: torch training steps, NumPy ns/element.

    python benchmarks/bench_kernels.py [--threads N] [--steps S] [--repeat R] [--no-numpy]

* torch: the paper's DNN (depth 100, width 300, batch 64, MNIST-shaped random inputs) built by
  ``eoctheory.nets.torch.dnn``, one SGD step (forward, cross-entropy, backward, update) per
  call, for each activation with the hand-written module (fused torch compositions:
  ``relu``, ``softshrink``, ``hardtanh``; ``torch.nn.GELU``) and with the module generated
  from the SymPy definition (``eoctheory.nets.torch_kernels.torch_function``). Configurations are
  timed in interleaved rounds and the median over ``--repeat`` rounds is reported, so load
  from other processes hits all of them alike. Target: generated within 1.3x of hand-written.
* NumPy: the reference network's pointwise kernels on a (128, 300) array, phi and
  ``g *= phi'`` (timed with a reset ``g = 1`` each call, so that repeated products cannot
  reach denormals), ns per element, generated against hand-written (median of rounds).

The machine's load average (``os.getloadavg``) is printed before and after: on a shared
machine compare the ratios, which are measured within one run, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
_ap.add_argument("--steps", type=int, default=10, help="SGD steps per timing (default 10)")
_ap.add_argument("--repeat", type=int, default=7, help="interleaved rounds, median (default 7)")
_ap.add_argument("--no-numpy", action="store_true", help="skip the NumPy kernel table")
_ap.add_argument("--no-torch", action="store_true", help="skip the torch table")
ARGS = _ap.parse_args()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from eoctheory import Activation  # noqa: E402
from eoctheory.nets import eoc_init, pointwise  # noqa: E402

DEPTH, WIDTH, N_IN, N_CLASSES, BATCH = 100, 300, 784, 10, 64
RAMP = "Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))"


def load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def torch_table() -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from eoctheory.nets import torch as et

    torch.set_num_threads(ARGS.threads)

    class Hand(nn.Module):
        """A hand-written activation: a fused torch composition."""

        def __init__(self, fn, label: str) -> None:
            super().__init__()
            self.fn, self.label = fn, label

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fn(x)

        def extra_repr(self) -> str:
            return self.label

    ramp = Activation.from_string(RAMP, "ramp")
    cases = []  # (label, generated module, hand-written module, init)
    for label, name, kw in [("ReLU_tau s=0.6", "relu", dict(sparsity=0.6)),
                            ("ST_tau s=0.6", "st", dict(sparsity=0.6)),
                            ("CReLU s=0.85 V'=0.7", "crelu", dict(sparsity=0.85, target_slope=0.7)),
                            ("CST s=0.85 V'=0.7", "cst", dict(sparsity=0.85, target_slope=0.7))]:
        gen = et.make_activation(name, **kw)
        t, m = gen.tau, getattr(gen, "m", None)
        fn = {"relu": lambda x, t=t: et.relu_tau(x, t), "st": lambda x, t=t: et.st_tau(x, t),
              "crelu": lambda x, t=t, m=m: et.crelu(x, t, m),
              "cst": lambda x, t=t, m=m: et.cst(x, t, m)}[name]
        cases.append((label, gen, Hand(fn, f"et.{name}"), gen.eoc()))
    # the user's ramp: hand-written as 2 * hardtanh(x - 0.3, 0, 0.7) (same values up to
    # rounding; gradient 0 instead of 2 at x = 0.3, irrelevant for timing)
    cases.append(("custom ramp (Piecewise)", et.activation_module(ramp),
                  Hand(lambda x: 2.0 * F.hardtanh(x - 0.3, 0.0, 0.7), "2 hardtanh"),
                  eoc_init(ramp)))
    cases.append(("GELU", et.activation_module("gelu"), nn.GELU(), eoc_init("gelu")))

    torch.manual_seed(0)
    x = torch.randn(BATCH, N_IN)
    y = torch.randint(0, N_CLASSES, (BATCH,))
    steps = {}
    for label, gen, hand, ini in cases:
        for kind, act in (("hand", hand), ("generated", gen)):
            model = et.dnn(N_IN, WIDTH, DEPTH, N_CLASSES, act, flatten=False)
            et.eoc_init_(model, ini, generator=torch.Generator().manual_seed(0))
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)

            def step(model=model, opt=opt):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
            steps[(label, kind)] = step
    for fn in steps.values():  # warm-up
        for _ in range(2):
            fn()
    times: dict[tuple[str, str], list[float]] = {k: [] for k in steps}
    before = load()
    for _ in range(ARGS.repeat):
        for k, fn in steps.items():
            t0 = time.perf_counter()
            for _ in range(ARGS.steps):
                fn()
            times[k].append((time.perf_counter() - t0) / ARGS.steps)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); DNN depth {DEPTH}, "
          f"width {WIDTH}, batch {BATCH}; one SGD step (forward + backward + update); median "
          f"of {ARGS.repeat} interleaved rounds of {ARGS.steps} steps; "
          f"load average {before} -> {load()}")
    print(f"{'activation':26s} {'route':>8s} {'hand ms':>9s} {'gen ms':>9s} {'gen/hand':>9s}")
    from eoctheory.nets.torch_kernels import torch_route

    worst = 0.0
    for label, gen, _, _ in cases:
        h = statistics.median(times[(label, "hand")])
        g = statistics.median(times[(label, "generated")])
        worst = max(worst, g / h)
        print(f"{label:26s} {torch_route(gen.activation):>8s} {1e3 * h:9.2f} {1e3 * g:9.2f} "
              f"{g / h:9.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.3): {'PASS' if worst <= 1.3 else 'FAIL'}")


def numpy_table() -> None:
    shape = (128, 300)
    rng = np.random.default_rng(0)
    print()
    print(f"NumPy {np.__version__} pointwise kernels on {shape}, ns/element (median of "
          f"{ARGS.repeat} rounds); phi = phi(h) into out, dphi = g *= phi'(h); "
          f"load average {load()}")
    print(f"{'activation':24s} {'dtype':8s} {'phi hand':>9s} {'phi gen':>8s} {'ratio':>6s} "
          f"{'dphi hand':>10s} {'dphi gen':>9s} {'ratio':>6s}")
    ramp = Activation.from_string(RAMP, "ramp")
    points = [("relu", {"tau": 0.25}), ("st", {"tau": 1.04}), ("crelu", {"tau": 1.04, "m": 1.17}),
              ("cst", {"tau": 1.44, "m": 0.9}), ("hardtanh", {}), ("tanh", {}), (ramp, {}),
              ("gelu", {})]
    for dtype in (np.float32, np.float64):
        h = rng.normal(0, 1.3, shape).astype(dtype)
        a, g = np.empty_like(h), np.ones_like(h)
        mask, tmp = np.empty(shape, bool), np.empty_like(h)
        for act, params in points:
            kernels = {"gen": pointwise(act, kernel="generated", **params)}
            try:
                kernels["hand"] = pointwise(act, kernel="hand", **params)
            except ValueError:
                pass
            res: dict[str, float] = {}
            for kind, pw in kernels.items():
                pw.phi(h, a)
                for op, fn in (("phi", lambda pw=pw: pw.phi(h, a)),
                               ("dphi", lambda pw=pw: (g.fill(1.0),  # no denormal g
                                                       pw.mul_derivative(g, h, a, mask, tmp)))):
                    fn()
                    ts = []
                    for _ in range(ARGS.repeat):
                        t0 = time.perf_counter()
                        for _ in range(100):
                            fn()
                        ts.append((time.perf_counter() - t0) / 100 / h.size * 1e9)
                    res[f"{op} {kind}"] = statistics.median(ts)
            name = act if isinstance(act, str) else "custom ramp"

            def cell(op: str, w: int) -> str:
                if f"{op} hand" not in res:
                    return f"{'-':>{w}s} {res[f'{op} gen']:>{w - 1}.2f} {'-':>6s}"
                hh, gg = res[f"{op} hand"], res[f"{op} gen"]
                return f"{hh:>{w}.2f} {gg:>{w - 1}.2f} {gg / hh:6.2f}"
            print(f"{name:24s} {np.dtype(dtype).name:8s} {cell('phi', 9)} {cell('dphi', 10)}")


def main() -> int:
    print(f"nproc {os.cpu_count()}; load average at start {load()}")
    if not ARGS.no_torch:
        try:
            torch_table()
        except ImportError:
            print("torch not installed: torch table skipped")
    if not ARGS.no_numpy:
        numpy_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
