"""Speed of the NumPy reference network against the machine's own matmul throughput.

    python benchmarks/bench_network.py [--threads N] [--repeat R]

* forward and forward+backward of a depth-100, width-300 DNN on a batch of 128, float32 and
  float64, compared with the time of the bare matmuls of the same shapes (the practical
  limit: 100 GEMMs (128x300)@(300x300) forward; 300 for forward+backward: one forward, one
  weight gradient, one input gradient per layer). Target: >= 50% of that limit.
* 100 seeds of a depth-100, width-300 variance trajectory (target: < 10 s): the
  exact-in-law sampler and, for reference, drawing every weight matrix.
* the pointwise kernels: forward+backward of the same network per activation with the
  kernels generated from the SymPy definition (``kernel="generated"``) against the
  hand-written ones (``kernel="hand"``), median of interleaved rounds. This decides
  ``eoctheory.nets.reference.HAND_WRITTEN``: a hand-written kernel stays the default only
  where the generated one makes the network measurably slower.

BLAS threads: by default OPENBLAS_NUM_THREADS=1 (set before NumPy is imported). On a shared
machine multi-threaded OpenBLAS can be tens of times slower than one thread for these small
GEMMs; the limit and the network use the same setting, so the ratio is fair either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--threads", default="1", help="BLAS threads (default 1; 'auto' = leave)")
_ap.add_argument("--repeat", type=int, default=5, help="timing repeats, best taken")
_ap.add_argument("--only-kernels", action="store_true",
                 help="only the generated-vs-hand-written kernel table")
ARGS = _ap.parse_args()
if ARGS.threads != "auto":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = ARGS.threads

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import statistics  # noqa: E402

import numpy as np  # noqa: E402

from eoctheory.nets import Network, eoc_init, variance_trajectories  # noqa: E402

DEPTH, WIDTH, BATCH = 100, 300, 128


def best(fn, repeat: int) -> float:
    fn()  # warm-up (allocates the workspace)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gemm_limit(dtype, repeat: int) -> tuple[float, float]:
    """Time of the bare GEMMs a forward (resp. forward+backward) pass needs."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((BATCH, WIDTH)).astype(dtype)
    Ws = [rng.standard_normal((WIDTH, WIDTH)).astype(dtype) for _ in range(DEPTH)]
    H = np.empty((BATCH, WIDTH), dtype)
    G = np.empty((WIDTH, WIDTH), dtype)

    def fwd():
        for W in Ws:
            np.matmul(A, W, out=H)

    def fwdbwd():
        for W in Ws:
            np.matmul(A, W, out=H)
        for W in Ws:
            np.matmul(A.T, H, out=G)
            np.matmul(H, W.T, out=A)

    return best(fwd, repeat), best(fwdbwd, repeat)


def kernel_table() -> None:
    """Forward+backward with generated against hand-written pointwise kernels."""
    cases = [("relu", dict(sparsity=0.7)), ("st", dict(sparsity=0.7)),
             ("crelu", dict(sparsity=0.7, target_slope=0.7)),
             ("cst", dict(sparsity=0.7, target_slope=0.7)), ("hardtanh", {}), ("tanh", {})]
    x = np.random.default_rng(1).standard_normal((BATCH, WIDTH))
    rows = []
    for dtype in (np.float32, np.float64):
        g = np.random.default_rng(2).standard_normal((BATCH, WIDTH)).astype(dtype)
        fns = {}
        for name, kw in cases:
            ini = eoc_init(name, **kw)
            for kernel in ("hand", "generated"):
                net = Network.from_init(ini, [WIDTH] * (DEPTH + 1), first_layer="preserve",
                                        dtype=dtype, rng=0, kernel=kernel)

                def fb(net=net):
                    net.forward(x, keep=True, pairs=None)
                    net.backward(grad_output=g)
                fb()
                fns[(name, kernel)] = fb
        times: dict = {k: [] for k in fns}
        for _ in range(ARGS.repeat):
            for k, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
        for name, _ in cases:
            h = statistics.median(times[(name, "hand")])
            gg = statistics.median(times[(name, "generated")])
            rows.append((name, np.dtype(dtype).name, h, gg))
    print(f"forward+backward, depth {DEPTH}, width {WIDTH}, batch {BATCH}: pointwise kernels "
          f"hand-written vs generated (median of {ARGS.repeat} interleaved rounds); "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'activation':<12}{'dtype':<10}{'hand ms':>10}{'generated ms':>14}{'ratio':>8}")
    for name, dt, h, gg in rows:
        print(f"{name:<12}{dt:<10}{1e3 * h:>10.2f}{1e3 * gg:>14.2f}{gg / h:>8.2f}")


def main() -> int:
    if ARGS.only_kernels:
        kernel_table()
        return 0
    ini = eoc_init("crelu", sparsity=0.7, target_slope=0.7)
    x = np.random.default_rng(1).standard_normal((BATCH, WIDTH))
    rows = []
    for dtype in (np.float32, np.float64):
        lim_f, lim_fb = gemm_limit(dtype, ARGS.repeat)
        net = Network.from_init(ini, [WIDTH] * (DEPTH + 1), first_layer="preserve",
                                dtype=dtype, rng=0)
        g = np.random.default_rng(2).standard_normal((BATCH, WIDTH)).astype(dtype)
        t_f = best(lambda: net.forward(x, keep=False), ARGS.repeat)
        t_fk = best(lambda: net.forward(x, keep=True), ARGS.repeat)

        def fb():
            net.forward(x, keep=True)
            net.backward(grad_output=g)

        t_fb = best(fb, ARGS.repeat)
        flops_f = 2.0 * BATCH * WIDTH * WIDTH * DEPTH
        name = np.dtype(dtype).name
        rows.append((f"forward (variance only) {name}", t_f, lim_f, flops_f))
        rows.append((f"forward (keep for backward) {name}", t_fk, lim_f, flops_f))
        rows.append((f"forward+backward {name}", t_fb, lim_fb, 3 * flops_f))

    print(f"depth {DEPTH}, width {WIDTH}, batch {BATCH}, activation CReLU (s=0.7, V'=0.7); "
          f"BLAS threads: {ARGS.threads}; numpy {np.__version__}; nproc {os.cpu_count()}; "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'case':<40}{'time ms':>10}{'GEMM limit ms':>15}{'of limit':>10}{'GFLOP/s':>10}")
    for name, t, lim, fl in rows:
        print(f"{name:<40}{1e3 * t:>10.2f}{1e3 * lim:>15.2f}{100 * lim / t:>9.0f}%"
              f"{fl / t / 1e9:>10.1f}")

    print()
    print(f"{'100 seeds, depth 100, width 300, q^l trajectory':<52}{'time s':>8}{'target':>9}")
    for method, batch, dtype in (("law", 1, np.float64), ("law", 8, np.float64),
                                 ("weights", 1, np.float32)):
        seeds = 100 if method == "law" else 20
        t = time.perf_counter()
        variance_trajectories(ini, WIDTH, DEPTH, seeds, method=method, batch=batch,
                              dtype=dtype)
        dt = (time.perf_counter() - t) * 100 / seeds
        label = f"{method} sampler, batch {batch}, {np.dtype(dtype).name}"
        if seeds != 100:
            label += f" ({seeds} seeds, x{100 // seeds})"
        print(f"{label:<52}{dt:>8.2f}{'< 10 s':>9}")
    print()
    kernel_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
