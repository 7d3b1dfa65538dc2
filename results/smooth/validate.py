"""Smooth vs piecewise clipping measured on the NumPy reference network (issue 15, part 2).

For CReLU/SCReLU and CST/SCST at sparsity 0.85 and V'(q*) = 0.7, 0.9 on the EoC (q* = 1),
each with m solved for the slope:

1. ``eoctheory.nets.simulate`` (width 300, depth 100, SEEDS seeds): the last layer's q^L,
   the mean sparsity over layers, the median and spread of |grad 1|/|grad L|, failures;
2. the input-output Jacobian J = prod_l W^{l+1} D^l of a random network (width N_J, depth
   L_J, one input at q*), typed here: the variance of the spectrum of J J^T (normalised by
   its squared mean) against
   App. F's L (mu_2/mu_1^2 - 1 - s_1), s_1 = -1 (Gaussian weights), mean over seeds.

Run from the repository root (about 5 minutes on one core):
    python results/smooth/validate.py
writes results/smooth/validation.json and prints a Markdown table (kept in README.md).
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from eoctheory.nets import eoc_init, seed_rng, simulate
from eoctheory.theory.correlation import jacobian_moments

SEEDS = 6
N_J, L_J, SEEDS_J = 1000, 5, 6
SETTINGS = [(base, beta) for base in ("crelu", "cst") for beta in (None, 1.0, 4.0)]
SLOPES = (0.7, 0.9)
SPARSITY = 0.85


def jacobian_spectrum(init, width: int, depth: int, seed: int) -> tuple[float, float]:
    """(mean m_1, normalised variance m_2/m_1^2 - 1) of the eigenvalues of J J^T,
    J = d h^{L+1} / d h^1 at one input. Normalised: the overall scale m_1 (1 in
    expectation on the EoC) fluctuates by ~10% per layer at this width, the shape less."""
    rng = seed_rng(seed, 0)
    act = init.activation
    sw, sb = np.sqrt(init.sigma_w2), np.sqrt(init.sigma_b2)
    h = np.sqrt(init.q_star) * rng.standard_normal(width)
    J = np.eye(width)
    for _ in range(depth):
        W = sw / np.sqrt(width) * rng.standard_normal((width, width))
        J = W @ (act.derivative(h)[:, None] * J)
        h = W @ act(h) + sb * rng.standard_normal(width)
    JJ = J @ J.T
    m1 = np.trace(JJ) / width
    m2 = np.sum(JJ * JJ) / width
    return float(m1), float(m2 / (m1 * m1) - 1.0)


def main() -> None:
    out = []
    t0 = time.time()
    for v in SLOPES:
        for base, beta in SETTINGS:
            name = base if beta is None else {"crelu": "screlu", "cst": "scst"}[base]
            kw = {} if beta is None else {"beta": beta}
            ini = eoc_init(name, sparsity=SPARSITY, target_slope=v, **kw)
            mu1, mu2 = jacobian_moments(ini.activation, ini.sigma_w2, ini.q_star)
            r = simulate(ini, width=300, depth=100, seeds=SEEDS, batch=8)
            spec = np.array([jacobian_spectrum(ini, N_J, L_J, 100 + k) for k in range(SEEDS_J)])
            logr = np.log10(r.gradient_ratio[np.isfinite(r.gradient_ratio)])
            row = {
                "activation": name, "beta": beta, "target_slope": v, "m": ini.m,
                "tau": ini.tau, "sigma_w2": ini.sigma_w2, "sigma_b2": ini.sigma_b2,
                "variance_curvature": ini.variance_curvature,
                "q_last_mean": float(np.mean(r.q[:, -1])),
                "q_last_sd": float(np.std(r.q[:, -1], ddof=1)),
                "sparsity_measured": float(np.nanmean(r.sparsity)),
                "sparsity_theory": float(ini.sparsity),
                "log10_grad_ratio_median": float(np.median(logr)),
                "log10_grad_ratio_sd": float(np.std(logr, ddof=1)),
                "failed": int(r.failed.sum()), "seeds": SEEDS,
                "spectrum_mean": float(spec[:, 0].mean()),
                "spectrum_var": float(spec[:, 1].mean()),
                "spectrum_var_se": float(spec[:, 1].std(ddof=1) / np.sqrt(SEEDS_J)),
                "spectrum_var_theory": L_J * (mu2 / mu1**2),
                "spectrum_var_per_seed": spec[:, 1].tolist(),
            }
            out.append(row)
            print(f"{name:7s} beta={beta!s:5s} V'={v}: done ({time.time() - t0:.0f} s)",
                  flush=True)
    here = pathlib.Path(__file__).parent
    (here / "validation.json").write_text(json.dumps(out, indent=1) + "\n")
    # paired ratio to the piecewise row (same seeds: same weights and inputs)
    for r in out:
        ref = next(p for p in out if p["beta"] is None and p["target_slope"] == r["target_slope"]
                   and p["activation"] == {"screlu": "crelu", "scst": "cst"}.get(
                       r["activation"], r["activation"]))
        ratio = np.array(r["spectrum_var_per_seed"]) / np.array(ref["spectrum_var_per_seed"])
        r["spectrum_ratio"] = float(ratio.mean())
        r["spectrum_ratio_se"] = float(ratio.std(ddof=1) / np.sqrt(SEEDS_J))
        r["spectrum_ratio_theory"] = r["spectrum_var_theory"] / ref["spectrum_var_theory"]
    (here / "validation.json").write_text(json.dumps(out, indent=1) + "\n")
    print("\n| activation | beta | V'(q*) | m | V''(q*) | q^L (sd) | sparsity (theory) | "
          "log10 grad ratio median (sd) | failed | Var/mean^2 spec JJ^T measured (se) | "
          "theory | ratio to piecewise measured (se) | theory |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out:
        b = "inf" if r["beta"] is None else f"{r['beta']:g}"
        print(f"| {r['activation']} | {b} | {r['target_slope']} | {r['m']:.3f} | "
              f"{r['variance_curvature']:.3f} | {r['q_last_mean']:.3f} ({r['q_last_sd']:.3f}) | "
              f"{r['sparsity_measured']:.4f} ({r['sparsity_theory']:.2f}) | "
              f"{r['log10_grad_ratio_median']:.2f} ({r['log10_grad_ratio_sd']:.2f}) | "
              f"{r['failed']}/{r['seeds']} | "
              f"{r['spectrum_var']:.1f} ({r['spectrum_var_se']:.1f}) | "
              f"{r['spectrum_var_theory']:.1f} | {r['spectrum_ratio']:.3f} "
              f"({r['spectrum_ratio_se']:.3f}) | {r['spectrum_ratio_theory']:.3f} |")


if __name__ == "__main__":
    main()
