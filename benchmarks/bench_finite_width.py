"""Finite-width predictor: speed against its targets, and agreement with simulated networks.

    python benchmarks/bench_finite_width.py [--seeds K] [--quick] [--no-validation]

Timings (targets from issue 8): one setting's full prediction (free + killed chains,
quantiles) < 0.5 s; the phase diagram (50 x 50 settings of one activation, risk only)
< 30 s; ``python -m eoctheory recommend`` end to end (a fresh interpreter) < 3 s.

Validation: for each setting of the grid (the four paper activations, several sparsities
and m, widths 100-1000, depths 20-100) ``K`` networks are drawn exactly in law
(:func:`eoctheory.theory.finite_width_law.simulate_law`, forward and backward, O(N L) per
network; it is tested against :class:`eoctheory.nets.Network` in tests/test_finite_width.py)
and compared with :func:`eoctheory.theory.finite_width.predict`:

* escape: P(q^l leaves [q*/4, 4q*] for some l <= L) (the failure of nets.simulate),
  with the binomial standard error of the simulated fraction;
* risk: escape or |delta^1|/|delta^L| > 10;
* q^L quantiles 5/50/95% and log(|delta^1|/|delta^L|) quantiles 5/50/95%, with the
  simulated value's 95% order-statistic interval as Monte Carlo error;
* ``ok``: every predicted number inside its Monte Carlo interval (quantiles), or within
  3 standard errors + 0.01 (probabilities); ``~`` if only the gradient quantiles miss.

BLAS threads default to 1 (set before NumPy is imported), as in bench_network.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--seeds", type=int, default=1000, help="simulated networks per setting")
_ap.add_argument("--quick", action="store_true", help="a 6-setting subset of the grid")
_ap.add_argument("--no-validation", action="store_true", help="timings only")
_ap.add_argument("--threads", default="1", help="BLAS threads (default 1)")
ARGS = _ap.parse_args()
if ARGS.threads != "auto":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = ARGS.threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from eoctheory.theory import finite_width as fw  # noqa: E402
from eoctheory.theory.finite_width_law import simulate_law  # noqa: E402
from eoctheory.nets import eoc_init  # noqa: E402

#: (activation, sparsity, V'(q*) target or None, width, depth)
GRID = [
    ("relu", 0.5, None, 300, 100),
    ("relu", 0.6, None, 1000, 100),
    ("relu", 0.7, None, 300, 20),
    ("st", 0.5, None, 300, 50),
    ("st", 0.6, None, 1000, 20),
    ("crelu", 0.6, 0.5, 100, 100),
    ("crelu", 0.7, 0.7, 300, 100),
    ("crelu", 0.85, 0.5, 300, 100),
    ("crelu", 0.85, 0.9, 300, 100),
    ("crelu", 0.85, 0.9, 1000, 100),
    ("crelu", 0.8, 0.7, 100, 50),
    ("cst", 0.5, 0.9, 300, 100),
    ("cst", 0.7, 0.7, 100, 100),
    ("cst", 0.8, 0.9, 1000, 50),
    ("cst", 0.85, 0.5, 1000, 20),
    ("cst", 0.85, 0.9, 300, 100),
]
QUICK = [0, 2, 6, 8, 12, 15]
LV = (0.05, 0.5, 0.95)


def timings() -> None:
    from eoctheory.theory.eoc import tau_from_sparsity  # noqa: F401  (warm the imports)

    fw.predict("crelu", sparsity=0.8, target_slope=0.7, width=300, depth=100)  # derive once
    fw.predicted_risk("cst", width=300, depth=100, sparsity=0.8, target_slope=0.7)
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        fw.predict("crelu", sparsity=0.8, target_slope=0.7, width=300, depth=100)
        best = min(best, time.perf_counter() - t)
    t1 = time.perf_counter()
    fw.predict("cst", sparsity=0.85, m=2.0, width=1000, depth=100)
    t_wide = time.perf_counter() - t1
    s = np.linspace(0.5, 0.95, 50)[:, None]
    m = np.geomspace(0.05, 4.0, 50)[None, :]
    t = time.perf_counter()
    fw.predicted_risk("crelu", width=300, depth=100, sparsity=s, m=m)
    t_grid = time.perf_counter() - t
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, "-m", "eoctheory", "recommend", "crelu", "--sparsity", "0.85",
           "--width", "300", "--depth", "100"]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    t_rec = time.perf_counter() - t
    cmdw = [sys.executable, "-m", "eoctheory", "recommend", "cst", "--sparsity", "0.8",
            "--m", "1.0", "--depth", "100"]
    t = time.perf_counter()
    subprocess.run(cmdw, env=env, check=True, capture_output=True)
    t_recw = time.perf_counter() - t
    print("| quantity | measured | target |")
    print("|---|---|---|")
    print(f"| one setting, predict (N=300, L=100) | {best:.3f} s | < 0.5 s |")
    print(f"| one setting, predict (N=1000, L=100) | {t_wide:.3f} s | < 0.5 s |")
    print(f"| phase diagram 50 x 50 (CReLU, N=300, L=100) | {t_grid:.2f} s | < 30 s |")
    print(f"| `recommend crelu --sparsity 0.85 --width 300 --depth 100` | {t_rec:.2f} s "
          "| < 3 s |")
    print(f"| `recommend cst --sparsity 0.8 --m 1 --depth 100` (smallest width) | "
          f"{t_recw:.2f} s | - |")
    print()


def _qci(x: np.ndarray, p: float) -> tuple[float, float, float]:
    """Quantile and its 95% order-statistic interval (NaN/overflow sorted to +inf)."""
    x = np.sort(np.where(np.isfinite(x), x, np.inf))
    K = len(x)
    h = 1.96 * np.sqrt(K * p * (1 - p))
    lo = int(max(0, np.floor(K * p - h)))
    hi = int(min(K - 1, np.ceil(K * p + h)))
    return float(np.quantile(x, p)), float(x[lo]), float(x[hi])


def _fmt(v: float) -> str:
    return "inf" if not np.isfinite(v) else f"{v:.3g}"


def validate(K: int) -> None:
    rows = [GRID[i] for i in QUICK] if ARGS.quick else GRID
    print(f"Validation: predict vs {K} networks drawn exactly in law per setting "
          "(pred / sim [95% MC interval]).")
    print()
    print("| setting | N | L | V'(q*) | escape pred / sim ± se | risk pred / sim ± se | "
          "q^L 5/50/95% pred | q^L sim | log ratio 5/50/95% pred | log ratio sim | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    t_all = time.perf_counter()
    n_ok = 0
    for k, (name, s, slope, N, L) in enumerate(rows):
        ini = eoc_init(name, sparsity=s, **({} if slope is None else {"target_slope": slope}))
        p = fw.predict(ini.activation, width=N, depth=L, sigma_w2=ini.sigma_w2,
                       sigma_b2=ini.sigma_b2, levels=LV, **ini.params)
        q, gh = simulate_law(ini.activation, width=N, depth=L, seeds=K,
                             sigma_w2=ini.sigma_w2, sigma_b2=ini.sigma_b2, seed=100 + k)
        with np.errstate(all="ignore"):
            bad = ~np.isfinite(q) | (q < 0.25) | (q > 4.0)
            esc = bad.any(axis=1)
            lr = np.log(gh[:, 0] / gh[:, -1])
        risky = esc | ~(np.nan_to_num(lr, nan=np.inf) <= np.log(10.0))
        fe, fr = esc.mean(), risky.mean()
        se_e, se_r = np.sqrt(fe * (1 - fe) / K), np.sqrt(fr * (1 - fr) / K)
        ok_p = (abs(p.escape_probability - fe) <= 3 * se_e + 0.01
                and abs(p.risk - fr) <= 3 * se_r + 0.01)
        qs = [_qci(q[:, -1], x) for x in LV]
        ls = [_qci(lr, x) for x in LV]
        pq = p.q_quantiles[-1]
        pl = np.log(p.gradient_ratio_quantiles)
        ok_q = all(lo <= v <= hi or (not np.isfinite(v) and not np.isfinite(hi))
                   for v, (_, lo, hi) in zip(pq, qs))
        ok_g = all(lo - 1e-9 <= v <= hi for v, (_, lo, hi) in zip(pl, ls))
        flag = "ok" if (ok_p and ok_q and ok_g) else ("~" if ok_p and ok_q else "**no**")
        n_ok += flag == "ok"
        lab = name + (f" s={s:g}" if slope is None else f" s={s:g} V'={slope:g}")
        print(f"| {lab} | {N} | {L} | {ini.variance_slope:.3g} | {p.escape_probability:.3f} / "
              f"{fe:.3f} ± {se_e:.3f} | {p.risk:.3f} / {fr:.3f} ± {se_r:.3f} | "
              + "/".join(_fmt(v) for v in pq) + " | "
              + "/".join(f"{_fmt(v)} [{_fmt(lo)},{_fmt(hi)}]" for v, lo, hi in qs) + " | "
              + "/".join(f"{v:.2f}" for v in pl) + " | "
              + "/".join(f"{v:.2f} [{lo:.2f},{hi:.2f}]" for v, lo, hi in ls)
              + f" | {flag} |", flush=True)
    print()
    print(f"{n_ok}/{len(rows)} settings agree within Monte Carlo error "
          f"({time.perf_counter() - t_all:.0f} s)")


if __name__ == "__main__":
    timings()
    if not ARGS.no_validation:
        validate(ARGS.seeds)
