"""Random cases in the promised parameter box, compiled maps against the mpmath oracle.

The promise (issue 11): for ReLU_tau, ST_tau, CReLU_{tau,m} and CST_{tau,m} with sparsity
0.01-0.99 (ReLU_tau/CReLU: 0.5-0.99, their sparsity at tau = 0 is 1/2), q in [1e-4, 1e4] and
m in [0.01, 10], the compiled maps give E[phi^2], V, V', V'', chi_1 and the sparsity with a
relative error <= 1e-10. Each case draws the activation uniformly, the sparsity uniformly,
q and m log-uniformly, sigma_w^2 log-uniformly in [0.1, 10] and sigma_b^2 uniformly in
[0, q]; tau = sqrt(q) Phi^{-1}(s) (ReLU_tau, CReLU) or sqrt(q) Phi^{-1}((1+s)/2) (ST_tau, CST),
with scipy's ndtri (independent of eoctheory's own inversion). The reference is
eoctheory.engine.precise (mpmath quadrature straight from phi, split at the breakpoints) at
``--dps`` digits. Prints the cases tried, the worst relative error of each quantity and
where it occurred, and how many cases exceeded 1e-12 and 1e-10.

Run: python benchmarks/fuzz_box.py [--cases 20000] [--seed 0] [--dps 30]
(about 0.2 s per case on one core: the oracle dominates).
"""

from __future__ import annotations

import argparse
import sys
import time

import mpmath
import numpy as np
from scipy.special import ndtri

import eoctheory as eoc
from eoctheory.engine import maps, precise

ACTIVATIONS = ("relu", "st", "crelu", "cst")
QUANTITIES = ("E[phi^2]", "V", "V'", "V''", "chi_1", "sparsity")
PROMISE = 1e-10


def draw(rng: np.random.Generator) -> dict:
    """One random case in the box."""
    name = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
    one_sided = name in ("relu", "crelu")
    s = rng.uniform(0.5 if one_sided else 0.01, 0.99)
    q = 10 ** rng.uniform(-4, 4)
    tau = np.sqrt(q) * (ndtri(s) if one_sided else ndtri((1 + s) / 2))
    params = {"tau": float(tau)}
    if name in ("crelu", "cst"):
        params["m"] = float(10 ** rng.uniform(-2, 1))
    return {"name": name, "s": float(s), "q": float(q), "params": params,
            "sigma_w2": float(10 ** rng.uniform(-1, 1)), "sigma_b2": float(rng.uniform(0, q))}


def compiled(case: dict) -> dict:
    n, q, p, sw2, sb2 = case["name"], case["q"], case["params"], case["sigma_w2"], case["sigma_b2"]
    return {"E[phi^2]": eoc.second_moment(n, q, **p),
            "V": eoc.variance_map(n, q, sw2, sb2, **p),
            "V'": eoc.variance_slope(n, q, sw2, **p),
            "V''": eoc.variance_curvature(n, q, sw2, **p),
            "chi_1": eoc.chi1(n, q, sw2, **p),
            "sparsity": eoc.sparsity(n, q, **p)}


def oracle(case: dict, dps: int) -> dict:
    n, q, p, sw2, sb2 = case["name"], case["q"], case["params"], case["sigma_w2"], case["sigma_b2"]
    d = dps + 5
    e2 = precise.second_moment(n, q, d, **p)
    d1 = precise.second_moment_derivative(n, q, 1, d, **p)
    d2 = precise.second_moment_derivative(n, q, 2, d, **p)
    s2 = precise.slope_moment(n, q, d, **p)
    with mpmath.workdps(d):
        w, b = mpmath.mpf(sw2), mpmath.mpf(sb2)
        return {"E[phi^2]": e2, "V": w * e2 + b, "V'": w * d1, "V''": w * d2, "chi_1": w * s2,
                "sparsity": precise.sparsity(n, q, d, **p)}


def rel_err(got: float, ref) -> float:
    ref = float(ref)
    return abs(float(got) - ref) / abs(ref) if ref != 0 else abs(float(got))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dps", type=int, default=30)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    worst = {k: (0.0, None) for k in QUANTITIES}
    over12 = dict.fromkeys(QUANTITIES, 0)
    over10 = dict.fromkeys(QUANTITIES, 0)
    short = 0
    t0 = time.perf_counter()
    for i in range(args.cases):
        case = draw(rng)
        if "m" in case["params"] and case["params"]["m"] / np.sqrt(case["q"]) < maps.SHORT_WIDTH:
            short += 1
        got, ref = compiled(case), oracle(case, args.dps)
        for k in QUANTITIES:
            e = rel_err(got[k], ref[k])
            over12[k] += e > 1e-12
            over10[k] += e > PROMISE
            if e > worst[k][0]:
                worst[k] = (e, case)
        if (i + 1) % 500 == 0:
            el = time.perf_counter() - t0
            print(f"  {i + 1}/{args.cases} cases, {el:.0f} s, worst so far: "
                  + ", ".join(f"{k} {worst[k][0]:.1e}" for k in QUANTITIES),
                  file=sys.stderr, flush=True)
    el = time.perf_counter() - t0
    print(f"fuzz_box: {args.cases} cases (seed {args.seed}, oracle at {args.dps} digits, "
          f"{el:.0f} s); {short} had a clipping window m/sqrt(q) < {maps.SHORT_WIDTH} "
          "(short-window rule)")
    print("quantity | worst rel. error | cases > 1e-12 | cases > 1e-10 | where (activation, "
          "sparsity, q, params, sigma_w2)")
    for k in QUANTITIES:
        e, c = worst[k]
        where = "-" if c is None else (
            f"{c['name']}, s = {c['s']:.6g}, q = {c['q']:.6g}, "
            + ", ".join(f"{n} = {v:.6g}" for n, v in c["params"].items())
            + f", sigma_w2 = {c['sigma_w2']:.4g}")
        print(f"{k} | {e:.1e} | {over12[k]} | {over10[k]} | {where}")
    bad = sum(over10.values())
    print("promise (<= 1e-10 everywhere): " + ("kept" if bad == 0 else f"BROKEN in {bad} values"))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
