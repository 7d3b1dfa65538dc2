"""End-to-end wall time of `python -m eoctheory check NAME`, with the fixed points verified.

Each command runs in a fresh interpreter (import, EoC solve, float64 fixed-point search,
mpmath verification of every root at 30 and 45 digits, verdict), best of ``--repeat`` runs,
next to the user + system CPU time of that run (the wall time on a shared machine is the CPU
time plus the time other processes took). The target of issue 16 is under 3 s for the smooth
built-ins (tanh, erf, GELU, SiLU).

Run: python benchmarks/bench_check.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from eoctheory.cli.main import VERDICT_EXIT
from eoctheory.engine.activations import CATALOGUE

#: label -> arguments after `check`; smooth built-ins first (the 3 s target), then the
#: paper's piecewise-linear ones (closed forms), the smooth clipped ones where present,
#: and two custom smooth expressions (quadrature oracle, like the built-ins)
CASES = {
    "tanh": ["tanh"],
    "erf": ["erf"],
    "gelu": ["gelu"],
    "silu": ["silu"],
    "crelu s=0.7": ["crelu", "--sparsity", "0.7"],
    "cst s=0.7": ["cst", "--sparsity", "0.7"],
    "screlu s=0.7": ["screlu", "--sparsity", "0.7"],
    "scst s=0.7": ["scst", "--sparsity", "0.7"],
    "custom x*tanh(x)": ["custom", "--expr", "x*tanh(x)"],
    "custom tanh(x)+x/10": ["custom", "--expr", "tanh(x) + x/10"],
}
SMOOTH_TARGET = {"tanh", "erf", "gelu", "silu"}
TARGET_S = 3.0


def run_once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, user + system CPU seconds) of one `check` in a fresh interpreter."""
    cmd = [sys.executable, "-m", "eoctheory", "check", *args]
    before = os.times()
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = os.times()
    if r.returncode not in VERDICT_EXIT.values():
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    cpu = (after.children_user - before.children_user) + \
        (after.children_system - before.children_system)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (best is shown)")
    ns = ap.parse_args(argv)
    print(f"{'check':24s} {'wall s':>8s} {'cpu s':>8s} {'target':>8s}")
    for label, args in CASES.items():
        if args[0] != "custom" and args[0] not in CATALOGUE:
            print(f"{label:24s} {'(not in this version)':>26s}")
            continue
        runs = [run_once(args) for _ in range(ns.repeat)]
        wall, cpu = min(runs)
        target = f"< {TARGET_S:g}" if label in SMOOTH_TARGET else ""
        flag = " MISSED" if label in SMOOTH_TARGET and wall >= TARGET_S else ""
        print(f"{label:24s} {wall:8.2f} {cpu:8.2f} {target:>8s}{flag}")


if __name__ == "__main__":
    main()
