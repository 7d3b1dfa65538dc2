"""EoC solves, verified fixed points and the `check` command: times against the targets.

Run: python benchmarks/bench_eoc.py
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from _timing import best_of

from eoctheory.cli.main import VERDICT_EXIT
from eoctheory.theory.eoc import m_for_slope
from eoctheory.theory.stability import fixed_points




def main():
    S = np.array([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9])[:, None]
    T = np.array([0.5, 0.7, 0.9])[None, :]
    m_for_slope("cst", T, sparsity=S)  # warm: derivation + compile
    t_table = best_of(lambda: m_for_slope("cst", T, sparsity=S))
    sol = m_for_slope("cst", 0.9, sparsity=0.85)
    kw = dict(tau=float(sol.tau), m=float(sol.m))
    fixed_points("cst", float(sol.sigma_w2), float(sol.sigma_b2), **kw)
    t_fp = best_of(lambda: fixed_points("cst", float(sol.sigma_w2), float(sol.sigma_b2), dps=30,
                                     **kw), 3)
    cmd = [sys.executable, "-m", "eoctheory", "check", "cst", "--sparsity", "0.85",
           "--target-slope", "0.9", "--json"]
    def run_check() -> None:  # exit code = verdict (this one is unstable: 4); 2 is an error
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode not in VERDICT_EXIT.values():
            raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)

    t_cli = best_of(run_check, 3)
    rows = [("27 m-solves (9 sparsities x 3 targets) with V'' and EoC point", t_table, 0.050),
            ("all fixed points of one map (CST s=0.85, V'=0.9), mpmath 30+45 digits", t_fp, 0.5),
            ("python -m eoctheory check cst ... --json, end to end", t_cli, 1.5)]
    print(f"{'task':<75} {'time (s)':>9} {'target':>7}")
    for name, t, target in rows:
        print(f"{name:<75} {t:9.4f} {target:7.3f}  {'ok' if t < target else 'MISSED'}")


if __name__ == "__main__":
    main()
