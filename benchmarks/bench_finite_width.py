r"""Finite-width predictor: speed against its targets, and agreement with simulated networks.

    python benchmarks/bench_finite_width.py [--seeds K] [--quick] [--no-validation]
                                            [--no-timings]

Timings (targets from issue 8): one setting's full prediction (free + killed chains,
quantiles) < 0.5 s; the phase diagram (50 x 50 settings of one activation, risk only)
< 30 s; ``python -m eoctheory recommend`` end to end (a fresh interpreter) < 3 s.

Validation: for each setting of the grid (the four paper activations, several sparsities
and m, widths 100-1000, depths 20-100) ``K`` networks (default 1000) are drawn exactly in
law (:func:`eoctheory.theory.finite_width_law.simulate_law`, forward and backward, O(N L)
per network; it is tested against :class:`eoctheory.nets.Network` in
tests/theory/test_finite_width.py) and compared with
:func:`eoctheory.theory.finite_width.predict`. The simulated failures are computed from the
measured :math:`q^l` by the predictor's own definitions (``fw.SPARSITY_DRIFT``,
``fw.CHI_DRIFT``, ``fw.GRAD_LIMIT``), with the maps of :mod:`eoctheory.engine.maps`,
independently of the chain:

* drift: :math:`|s(q^l) - s(q^*)| > 0.1` or :math:`\chi_1(q^l)/\chi_1(q^*) \notin [1/2, 2]`
  at some layer :math:`l \le L` (or an overflow of :math:`q^l`);
* explosion / vanishing: no drift and :math:`\|\delta^1\|/\|\delta^L\| > 10^3`
  (resp. :math:`< 10^{-3}`; an overflowed gradient counts as an explosion);
* risk: drift or explosion or vanishing (the three are disjoint);
* :math:`q^L` quantiles 5/50/95% and :math:`\log(\|\delta^1\|/\|\delta^L\|)` quantiles
  5/50/95%, with the simulated value's 95% order-statistic interval.

Agreement criterion (stated here, applied per setting; a setting *agrees* if all hold):

1. each of drift, explosion, vanishing and risk: ``|pred - freq| <= 3 se + 0.02`` with
   ``se = sqrt(freq (1 - freq) / K)`` the binomial standard error of the simulated
   frequency; the 0.02 allows for the chain's Gaussian/Gamma closure and its grid (the
   same tolerance as tests/theory/test_finite_width.py);
2. the median of :math:`\log(\|\delta^1\|/\|\delta^L\|)` inside the simulated median's
   95% interval widened by 0.3 on each side (the tolerance that
   tests/theory/test_finite_width.py allows for the bias of the chain's gradient closure);
3. each predicted :math:`q^L` quantile (5/50/95%) inside the simulated quantile's 95%
   interval widened by one cell of the chain's grid (a factor
   :math:`e^{h}`, :math:`h = 2\log b/\text{cells} \approx \sqrt{2/N}/4`: the chain resolves
   :math:`\log q` no finer; at K = 1000 and N = 1000 the interval itself is about that
   narrow). A prediction beyond the followed range :math:`[q^*/16, 16 q^*]`, reported
   0 or inf, counts as inside if the interval reaches beyond that end. The summary line
   also counts the settings that pass without this widening.

The 5/95% gradient quantiles are printed but not judged: the gradient tails are judged
through the explosion and vanishing probabilities. With 3 quantile checks at 95% in each
of 16 settings, up to about two misses of criterion 3 are expected by chance alone.

Cost: about 0.03 s per simulated network over the whole 16-setting grid at one BLAS
thread, so the default K = 1000 takes under a minute (simulation plus 16 predictions; the
timings section adds about a minute) on a 2-core machine; ``--quick`` (6 settings) and a smaller ``--seeds`` cut it further
(a smaller K widens the Monte Carlo tolerances, it does not bias the verdict).

BLAS threads default to 1 (set before NumPy is imported), as in bench_network.py.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time

_ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_ap.add_argument("--seeds", type=int, default=1000, help="simulated networks per setting")
_ap.add_argument("--quick", action="store_true", help="a 6-setting subset of the grid")
_ap.add_argument("--no-validation", action="store_true", help="timings only")
_ap.add_argument("--no-timings", action="store_true", help="validation only")
_ap.add_argument("--threads", default="1", help="BLAS threads (default 1)")
ARGS = _ap.parse_args()
if ARGS.threads != "auto":
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = ARGS.threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from eoctheory.engine import maps  # noqa: E402
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
    from eoctheory.figures import fig_phase  # matplotlib only for this line

    t = time.perf_counter()
    fig_phase.figure()  # the whole figure at its defaults, as `python -m eoctheory.figures`
    t_fig = time.perf_counter() - t
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
    print(f"| 50 x 50 risk grid, every point (CReLU, N=300, L=100) | {t_grid:.2f} s | - |")
    print(f"| fig_phase, the whole figure (CReLU + CST, 40 x 40 refined, batch "
          f"{fig_phase.BATCH}) | {t_fig:.2f} s | < 10 s |")
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


def _law_failures(act, params: dict, q: np.ndarray, gh: np.ndarray, q_star: float = 1.0):
    """Drift, explosion, vanishing (boolean per network) and the log gradient ratio of
    simulated networks, by the predictor's definitions, from the measured q^l."""
    with np.errstate(all="ignore"):
        qq = np.clip(np.where(np.isfinite(q), q, 1e100), 1e-100, 1e100)
        s = maps.sparsity(act, qq, **params)
        nu = maps.slope_moment(act, qq, **params)
        s0 = maps.sparsity(act, q_star, **params)
        nu0 = maps.slope_moment(act, q_star, **params)
        drift = ((np.abs(s - s0) > fw.SPARSITY_DRIFT) | (nu / nu0 > fw.CHI_DRIFT)
                 | (nu / nu0 < 1 / fw.CHI_DRIFT) | ~np.isfinite(q)).any(axis=1)
        lr = np.log(gh[:, 0] / gh[:, -1])
    lr = np.where(np.isnan(lr), np.inf, lr)        # an overflowed gradient exploded
    g = math.log(fw.GRAD_LIMIT)
    return drift, ~drift & (lr > g), ~drift & (lr < -g), lr


#: agreement tolerances (see the module docstring)
P_SE, P_ABS, LR_ABS = 3.0, 0.02, 0.3


def validate(K: int) -> None:
    rows = [GRID[i] for i in QUICK] if ARGS.quick else GRID
    print(f"Validation: predict vs {K} networks drawn exactly in law per setting "
          "(pred / sim ± binomial se; quantiles pred | sim [95% MC interval]).")
    print(f"Failure: |s(q^l) - s(q*)| > {fw.SPARSITY_DRIFT:g} or chi_1(q^l)/chi_1(q*) "
          f"outside [1/{fw.CHI_DRIFT:g}, {fw.CHI_DRIFT:g}] (drift), "
          f"|d^1|/|d^L| > {fw.GRAD_LIMIT:g} (expl) or < 1/{fw.GRAD_LIMIT:g} (van).")
    print(f"Agree: every probability within {P_SE:g} se + {P_ABS:g}, median log ratio "
          f"within its MC interval ± {LR_ABS:g}, q^L quantiles within their MC intervals "
          "x/÷ one grid cell.")
    print()
    print("| setting | N | L | V'(q*) | drift | expl | van | risk | "
          "q^L 5/50/95% pred | q^L sim | log ratio 5/50/95% pred | log ratio sim | agree |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    t_all = time.perf_counter()
    n_ok, n_strict, bad_rows = 0, 0, []
    for k, (name, s, slope, N, L) in enumerate(rows):
        ini = eoc_init(name, sparsity=s, **({} if slope is None else {"target_slope": slope}))
        p = fw.predict(ini.activation, width=N, depth=L, sigma_w2=ini.sigma_w2,
                       sigma_b2=ini.sigma_b2, levels=LV, **ini.params)
        q, gh = simulate_law(ini.activation, width=N, depth=L, seeds=K,
                             sigma_w2=ini.sigma_w2, sigma_b2=ini.sigma_b2, seed=100 + k)
        drift, expl, van, lr = _law_failures(ini.activation, ini.params, q, gh)
        sim = {"drift": drift, "expl": expl, "van": van, "risk": drift | expl | van}
        pred = {"drift": p.drift_probability, "expl": p.explosion_probability,
                "van": p.vanishing_probability, "risk": p.risk}
        why, cells = [], []
        for key in ("drift", "expl", "van", "risk"):
            f = float(sim[key].mean())
            se = math.sqrt(f * (1 - f) / K)
            d = pred[key] - f
            if abs(d) > P_SE * se + P_ABS:
                why.append(f"{key} {pred[key]:.3f} vs {f:.3f}±{se:.3f}")
            cells.append(f"{pred[key]:.3f} / {f:.3f} ± {se:.3f}")
        qs = [_qci(q[:, -1], x) for x in LV]
        ls = [_qci(lr, x) for x in LV]
        pq = p.q_quantiles[-1]
        pl = np.log(p.gradient_ratio_quantiles)
        b = p.config["band"]
        cell = math.exp(2 * math.log(b) / p.config["cells"])  # one grid cell, as a factor
        strict = True
        for lev, v, (_, lo, hi) in zip(LV, pq, qs):
            beyond = (v == 0 and lo < 1 / b) or (not np.isfinite(v) and hi > b)
            strict &= beyond or lo <= v <= hi
            if not (beyond or lo / cell <= v <= hi * cell):
                why.append(f"q^L {lev:.0%} {_fmt(v)} not in [{_fmt(lo)},{_fmt(hi)}] "
                           f"(x/÷ {cell:.3f})")
        _, lo, hi = ls[1]
        if not lo - LR_ABS <= pl[1] <= hi + LR_ABS:
            why.append(f"median log ratio {pl[1]:.2f} not in [{lo:.2f},{hi:.2f}]±{LR_ABS:g}")
        n_ok += not why
        n_strict += not why and strict
        lab = name + (f" s={s:g}" if slope is None else f" s={s:g} V'={slope:g}")
        if why:
            bad_rows.append(f"{lab} N={N} L={L} ({'; '.join(why)})")
        print(f"| {lab} | {N} | {L} | {ini.variance_slope:.3g} | " + " | ".join(cells) + " | "
              + "/".join(_fmt(v) for v in pq) + " | "
              + "/".join(f"{_fmt(v)} [{_fmt(lo)},{_fmt(hi)}]" for v, lo, hi in qs) + " | "
              + "/".join(f"{v:.2f}" for v in pl) + " | "
              + "/".join(f"{v:.2f} [{lo:.2f},{hi:.2f}]" for v, lo, hi in ls)
              + f" | {'yes' if not why else '**no**'} |", flush=True)
    print()
    print(f"{n_ok}/{len(rows)} settings agree within Monte Carlo error (K = {K}, "
          f"{time.perf_counter() - t_all:.0f} s; {n_strict}/{len(rows)} without the one-cell "
          "tolerance on q^L quantiles); "
          + ("disagree: " + "; ".join(bad_rows) if bad_rows else "none disagrees") + ".")


if __name__ == "__main__":
    if not ARGS.no_timings:
        timings()
    if not ARGS.no_validation:
        validate(ARGS.seeds)
