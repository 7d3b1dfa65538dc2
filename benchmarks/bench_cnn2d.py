"""Speed of the NumPy reference 2-D CNN against the machine's GEMM rate and torch's conv2d.

    python benchmarks/bench_cnn2d.py [--threads N] [--repeat R] [--depth L] [--channels C]
                                     [--batch B] [--size S] [--no-backward] [--no-torch]

The paper's CNN shape (Sec. 4): 50 layers of 300 channels, 32x32 images, batch 8, k = 3,
3 input channels, circular padding, CReLU on the EoC (s = 0.7, V'(q*) = 0.7), float32.

* NumPy forward (``CNN2d.forward(x, keep=False)``, all per-layer records included): seconds,
  achieved GFLOP/s counting ``2 B H W k^2 C_in C_out`` per layer, and the ratio to the
  machine's GEMM rate measured in the same run: ``np.matmul`` of the layer's shape
  ``(B H W, k^2 C) @ (k^2 C, C)`` in float32 (target: >= 50%).
* NumPy forward + backward (``keep=True``, ``backward(target=...)``): three GEMMs of that
  size per layer (forward, weight gradient, input gradient), same ratio.
* torch (if importable): the same network (weights copied, ``F.pad(mode="circular")`` +
  ``F.conv2d`` + bias + clamp), forward under ``inference_mode``, and forward + backward by
  autograd (loss 1/2 ||h^L - y||^2); the NumPy/torch time ratio (target: NumPy within 2x).
  The outputs of the two are compared (max relative difference, float32 round-off).

Threads: by default 1 for both, so the comparison is one core against one core:
OPENBLAS_NUM_THREADS/OMP_NUM_THREADS/MKL_NUM_THREADS are set before NumPy is imported,
threadpoolctl (if installed) limits the BLAS pools again, and ``torch.set_num_threads``.
Each time is the best of ``--repeat`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--threads", default="1", help="BLAS/torch threads (default 1; 'auto' = leave)")
_ap.add_argument("--repeat", type=int, default=3, help="timing repeats, best taken")
_ap.add_argument("--depth", type=int, default=50)
_ap.add_argument("--channels", type=int, default=300)
_ap.add_argument("--batch", type=int, default=8)
_ap.add_argument("--size", type=int, default=32, help="image height = width")
_ap.add_argument("--no-backward", action="store_true", help="forward only")
_ap.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
ARGS = _ap.parse_args()
if ARGS.threads != "auto":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = ARGS.threads

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks._timing import best_of  # noqa: E402
from eoctheory.nets import eoc_init  # noqa: E402
from eoctheory.nets.cnn2d import CNN2d  # noqa: E402

try:
    from threadpoolctl import threadpool_limits  # noqa: E402
except ImportError:  # pragma: no cover
    threadpool_limits = None

K, C0 = 3, 3


def main() -> None:
    L, C, B, S, R = ARGS.depth, ARGS.channels, ARGS.batch, ARGS.size, ARGS.repeat
    limiter = None
    if ARGS.threads != "auto" and threadpool_limits is not None:
        limiter = threadpool_limits(limits=int(ARGS.threads))
    torch = None
    if not ARGS.no_torch:
        try:
            import torch  # noqa: F811
            import torch.nn.functional as F
        except ImportError:
            torch = None
    if torch is not None and ARGS.threads != "auto":
        torch.set_num_threads(int(ARGS.threads))
    threads = (f"{ARGS.threads} thread(s): BLAS env vars set before NumPy import"
               + (", threadpoolctl" if limiter is not None else "")
               + (", torch.set_num_threads" if torch is not None else "")
               if ARGS.threads != "auto" else "threads left to the libraries")
    print(f"2-D CNN: depth {L}, {C} channels, {S}x{S} images, batch {B}, k = {K}, "
          f"{C0} input channels, circular padding, float32; {threads}")

    ini = eoc_init("crelu", sparsity=0.7, target_slope=0.7)
    net = CNN2d.from_init(ini, C0, C, L, first_layer="preserve", dtype=np.float32, rng=0)
    x = np.random.default_rng(1).standard_normal((B, C0, S, S)).astype(np.float32)
    y = np.zeros((B, C, S, S), np.float32)
    P = B * S * S
    flops_fwd = 2.0 * P * K * K * C * (C0 + (L - 1) * C)
    # backward: weight gradient and input gradient, each the forward's GEMM size
    flops_fb = 3.0 * flops_fwd

    # --- the machine's GEMM rate on the layer's shape ----------------------------------
    rng = np.random.default_rng(2)
    A = rng.standard_normal((P, K * K * C), dtype=np.float32)
    Wm = rng.standard_normal((K * K * C, C), dtype=np.float32)
    out = np.empty((P, C), np.float32)
    np.matmul(A, Wm, out=out)
    t_gemm = best_of(lambda: np.matmul(A, Wm, out=out), max(R, 5))
    gemm_rate = 2.0 * P * K * K * C * C / t_gemm
    del A, Wm, out

    rows = [("np.matmul (B*H*W, k^2 C) @ (k^2 C, C)", t_gemm, gemm_rate, None)]

    # --- NumPy forward ------------------------------------------------------------------
    rec = net.forward(x, keep=False)  # warm-up (workspace)
    t_np = best_of(lambda: net.forward(x, keep=False), R)
    rows.append((f"CNN2d.forward, {L} layers", t_np, flops_fwd / t_np, None))
    out_np = rec.output
    t_np_fb = None
    if not ARGS.no_backward:
        def fb():
            net.forward(x, keep=True)
            net.backward(target=y)
        fb()
        t_np_fb = best_of(fb, R)
        rows.append((f"CNN2d.forward+backward, {L} layers", t_np_fb, flops_fb / t_np_fb, None))
        net.forward(x, keep=False)  # free the keep=True workspace

    # --- torch --------------------------------------------------------------------------
    if torch is not None:
        r = K // 2
        Ws = [torch.from_numpy(net.conv_weights(l)) for l in range(L)]
        bs = [torch.from_numpy(b.copy()) for b in net.biases]
        tau, m = (float(ini.activation.values[k]) for k in ("tau", "m"))
        xt = torch.from_numpy(x)

        def torch_forward(Wl, bl):
            a = xt
            h = None
            for l in range(L):
                h = F.conv2d(F.pad(a, (r, r, r, r), mode="circular"), Wl[l], bl[l])
                a = torch.clamp(h - tau, 0.0, m)
            return h

        with torch.inference_mode():
            h_t = torch_forward(Ws, bs)
            t_t = best_of(lambda: torch_forward(Ws, bs), R)
        diff = float(np.abs(h_t.numpy() - out_np).max() / np.abs(out_np).max())
        rows.append(("torch conv2d forward (circular)", t_t, flops_fwd / t_t, t_np / t_t))
        if not ARGS.no_backward:
            Wg = [w.clone().requires_grad_(True) for w in Ws]
            bg = [b.clone().requires_grad_(True) for b in bs]
            yt = torch.from_numpy(y)

            def torch_fb():
                for p in Wg + bg:
                    p.grad = None
                h = torch_forward(Wg, bg)
                (0.5 * ((h - yt) ** 2).sum()).backward()

            torch_fb()
            t_t_fb = best_of(torch_fb, R)
            rows.append(("torch conv2d forward+backward (autograd)", t_t_fb,
                         flops_fb / t_t_fb, t_np_fb / t_t_fb))
        print(f"NumPy vs torch output: max |difference| / max |h^L| = {diff:.2e}")

    print(f"GEMM rate in this run: {gemm_rate / 1e9:.1f} GFLOP/s (best of {max(R, 5)})")
    print()
    hdr = f"{'operation':44s} {'seconds':>9s} {'GFLOP/s':>9s} {'% GEMM':>7s} {'NumPy/torch':>12s}"
    print(hdr)
    print("-" * len(hdr))
    for name, t, rate, vs in rows:
        pct = f"{100 * rate / gemm_rate:6.0f}%"
        vs_s = f"{vs:11.2f}x" if vs is not None else ""
        print(f"{name:44s} {t:9.3f} {rate / 1e9:9.1f} {pct:>7s} {vs_s:>12s}")
    print()
    print("targets: NumPy forward >= 50% of the GEMM rate; NumPy within 2x of torch "
          "(NumPy/torch <= 2)")


if __name__ == "__main__":
    main()
