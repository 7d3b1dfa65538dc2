"""``python -m eoctheory sweep``: many training runs, summarised like the paper's Table 2.

``python -m eoctheory sweep --settings relu:0.6 crelu:0.85:0.7 plain_relu --seeds 2 --epochs 2
--limit 10000 --data-dir DIR --out results/run``. A setting is ``NAME[:SPARSITY[:SLOPE]]``
with NAME a catalogue name or ``custom`` (defined by ``--expr``/``--param``). Runs go to a
local process pool (``--workers``) or a Dask cluster (``--scheduler``); see
:mod:`eoctheory.experiments.sweep`.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

from eoctheory.cli.main import integer, prog_name
from eoctheory.cli.progress import Bar
from eoctheory.cli.train import add_training_arguments, config_from_args, user_errors

HELP = "sweep (activation, sparsity, slope, seed) training runs into a Table-2 style summary"
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("sweep --settings relu:0.6 crelu:0.85:0.7 plain_relu --seeds 2 --epochs 2 --limit 10000 "
     "--data-dir DIR --out results/run", "three settings, two seeds each, summarised like "
     "the paper's Table 2"),
    ("sweep --settings custom:0.7 --expr \"Piecewise((0, x < tau), (x - tau, True))\" "
     "--dataset digits --workers 2", "your own activation at 70% sparsity, in two processes"),
    ("sweep --scheduler tcp://HOST:8786 --seeds 5 --data-dir DIR",
     "the reduced paper experiment on a Dask cluster"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eoctheory.experiments.sweep import MAX_SEEDS, PAPER_REDUCED

    p.add_argument("--settings", nargs="+", default=list(PAPER_REDUCED),
                   metavar="NAME[:S[:SLOPE]]",
                   help="settings (default: the reduced paper experiment: "
                        + " ".join(PAPER_REDUCED) + ")")
    p.add_argument("--expr", metavar="EXPR",
                   help="phi(x) of the settings named 'custom' (tau and m recognised)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="value of another parameter of the custom activation (repeatable)")
    p.add_argument("--seeds", type=integer(1, MAX_SEEDS), default=2, metavar="K",
                   help=f"seeds 0..K-1 per setting, at most {MAX_SEEDS} (default 2)")
    p.add_argument("--workers", type=integer(1), default=None,
                   help="local processes (default: CPU count)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://HOST:PORT): run there instead")
    p.add_argument("--out", default="sweep", metavar="DIR",
                   help="output directory (default ./sweep; created if missing)")
    p.add_argument("--q-star", type=float, default=1.0, dest="q_star", metavar="Q",
                   help="fixed-point variance q* > 0 (default 1)")
    add_training_arguments(p)
    p.set_defaults(threads=1)


def run(args: argparse.Namespace) -> int:
    from eoctheory.cli.options import param_values
    from eoctheory.experiments.sweep import (format_summary, parse_setting, run_sweep,
                                             summarise, write_results)
    from eoctheory.experiments.train import require_torch
    from eoctheory.files import check_writable_dir

    params = param_values(args.param)
    settings = [parse_setting(s, expr=args.expr, params=params) for s in args.settings]
    if args.expr and not any(s["activation"] == "custom" for s in settings):
        raise ValueError("--expr defines the settings named 'custom'; none is given")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    base = config_from_args(args, out=args.out, progress=False, expr=None, params={})
    for st in settings:  # every run's configuration, memory included, before any work
        replace(base, **st).validate()
    check_writable_dir(args.out, "--out", create=True)

    def checks():
        torch = require_torch()
        if args.scheduler is not None:
            try:
                import dask.distributed  # noqa: F401
            except ImportError:
                raise ValueError("--scheduler needs dask: pip install 'dask[distributed]'") \
                    from None
        if args.dataset == "mnist":  # fail fast, in this process, if MNIST is missing
            from eoctheory.experiments.data import find_mnist, load_mnist
            if find_mnist(args.data_dir)[0] is None:
                load_mnist(args.data_dir)
        return torch

    torch = user_errors(checks)
    n = len(settings) * args.seeds
    t0 = time.perf_counter()
    count = [0]

    def progress(row: dict) -> None:  # a bar on a terminal, a log line per run elsewhere
        count[0] += 1
        bar.advance()
        bar.write(f"[{count[0]}/{n} {time.perf_counter() - t0:6.0f} s] "
                  f"{row['setting']} seed {row['seed']}: test acc "
                  f"{row['test_acc']:.4f}, test sparsity {row['test_sparsity']:.4f}"
                  f"{' (diverged)' if row['diverged'] else ''}")

    with Bar(n, "sweep", unit="run", quiet=args.quiet) as bar:
        rows = run_sweep(base, settings, list(range(args.seeds)), workers=workers,
                         scheduler=args.scheduler, on_result=progress)
    summary = summarise(rows)
    cmd = f"{prog_name()} sweep " + " ".join(args.argv_text)
    meta = {"command": cmd, "wall_seconds": round(time.perf_counter() - t0, 1),
            "torch": torch.__version__, "workers": workers,
            "scheduler": args.scheduler}
    write_results(args.out, rows, summary, meta)
    print(format_summary(summary))
    print(f"\n{n} runs in {meta['wall_seconds']} s; tables in {args.out}/ "
          "(results.csv, results.json, summary.md, summary.csv)")
    return 0
