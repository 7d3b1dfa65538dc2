"""Time every paper figure from a cold start: ``python benchmarks/bench_figures.py``.

Runs ``python -m eoctheory.figures --format png,pdf`` in a fresh interpreter (so SymPy
derivation, compilation and matplotlib's font/mathtext caches are all cold), into a
temporary folder, and prints a table of per-figure times (build + PNG + PDF), the
in-process total, and the wall and CPU time of the whole subprocess (interpreter start
and imports included). Target: under 20 s wall on an idle 2-core machine.

Options: ``--repeat N`` (default 1; the table shows the fastest run per figure),
``--keep DIR`` to write the files there instead of a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 20.0
LINE = re.compile(r"^(\S+)\s+([0-9.]+) s\s")


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_once(outdir: str) -> tuple[dict[str, float], float, float, float]:
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    t0, c0 = time.perf_counter(), _child_cpu()
    out = subprocess.run([sys.executable, "-m", "eoctheory.figures", "--outdir", outdir,
                          "--format", "png,pdf"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    times, total = {}, float("nan")
    for ln in out.stdout.splitlines():
        m = LINE.match(ln)
        if not m:
            continue
        if m.group(1) == "total":
            total = float(m.group(2))
        else:
            times[m.group(1)] = float(m.group(2))
    return times, total, wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--keep", default=None, help="write the figures here")
    args = p.parse_args(argv)
    runs = []
    for _ in range(max(1, args.repeat)):
        if args.keep:
            runs.append(run_once(args.keep))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(run_once(tmp))
    names = list(runs[0][0])
    best = {n: min(r[0][n] for r in runs) for n in names}
    total = min(r[1] for r in runs)
    wall = min(r[2] for r in runs)
    cpu = min(r[3] for r in runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    slowest = max(best, key=best.get)
    w = max(len(n) for n in names + ["total (in process)"])
    print(f"cold start, PNG+PDF, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
          f"{f', best of {len(runs)}' if len(runs) > 1 else ''}")
    print(f"| {'figure':<{w}} | time (s) |")
    print(f"|{'-' * (w + 2)}|---------:|")
    for n in names:
        print(f"| {n:<{w}} | {best[n]:8.2f} |")
    print(f"| {'total (in process)':<{w}} | {total:8.2f} |")
    print(f"| {'wall (subprocess)':<{w}} | {wall:8.2f} |")
    print(f"| {'CPU (subprocess)':<{w}} | {cpu:8.2f} |")
    print(f"slowest: {slowest} ({best[slowest]:.2f} s); target {TARGET_S:g} s wall: "
          f"{'met' if wall < TARGET_S else 'MISSED'} (load average {load:.2f}; on a busy "
          "machine the CPU time is the steadier number)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
