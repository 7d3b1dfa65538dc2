r"""Sweeps over (activation, sparsity, target slope, seed): the paper's Table 2, reduced.

``python -m eoctheory sweep --settings relu:0.6 crelu:0.85:0.7 plain_relu --seeds 2
--epochs 2 --limit 10000 --data-dir ../shared/data/mnist --out results/run``

Each run is one :func:`eoctheory.experiments.train.train` job. Runs go to a local process pool by default
(``--workers N``, one torch thread each unless ``--threads``), or to a Dask cluster with
``--scheduler ADDRESS`` (``tcp://host:8786``; needs ``pip install 'dask[distributed]'``).
The results are gathered into one table, ``results.csv`` and ``results.json`` (one row per
run) and ``summary.md`` / ``summary.csv`` (one row per setting: mean and standard deviation
over seeds of the test accuracy and the test activation sparsity, like the paper's
Table 2), and the summary is printed.

A setting is written ``NAME[:SPARSITY[:TARGET_SLOPE]]``, e.g. ``relu:0.6``,
``cst:0.85:0.7`` or ``plain_relu``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from eoctheory.experiments.train import TrainConfig, finite_max

__all__ = ["PAPER_REDUCED", "parse_setting", "run_sweep", "summarise", "format_summary",
           "main"]

#: The reduced DNN experiment of issue 7 (THEORY.md §6).
PAPER_REDUCED = ("plain_relu", "relu:0.6", "relu:0.7", "st:0.6", "crelu:0.7:0.7",
                 "crelu:0.85:0.7", "cst:0.7:0.7", "cst:0.85:0.7")

#: Largest ``--seeds`` (each seed is a full training run per setting).
MAX_SEEDS = 1000

ROW_FIELDS = ("setting", "activation", "sparsity", "target_slope", "seed", "tau", "m",
              "sigma_w2", "sigma_b2", "variance_slope", "variance_curvature", "epochs_run", "steps",
              "diverged", "train_loss", "val_acc", "test_acc", "test_sparsity",
              "init_test_sparsity", "max_grad_norm_first_steps", "epoch_seconds", "n_train")


def parse_setting(text: str, expr: str | None = None,
                  params: dict | None = None) -> dict[str, Any]:
    """``"crelu:0.85:0.7"`` -> ``{"activation": "crelu", "sparsity": 0.85, "target_slope": 0.7}``.

    NAME is a catalogue name or ``custom`` (then ``expr``, and ``params`` for parameters
    other than tau and m, define it).

    Raises
    ------
    ValueError
        Unknown activation or a number that does not parse (naming ``settings``).
    """
    from eoctheory.engine.activations import list_activations

    parts = text.strip().split(":")
    name = parts[0]
    if name not in (*list_activations(), "custom"):
        raise ValueError(f"settings: activation must be one of {', '.join(list_activations())} "
                         f"or custom (with --expr), got {name[:40]!r} in {text[:60]!r}")
    if len(parts) > 3:
        raise ValueError(f"settings: expected NAME[:SPARSITY[:TARGET_SLOPE]], got {text!r}")
    out: dict[str, Any] = {"activation": name, "sparsity": None, "target_slope": None}
    if name == "custom":
        out.update(expr=expr, params=dict(params or {}))
    try:
        if len(parts) > 1 and parts[1]:
            out["sparsity"] = float(parts[1])
        if len(parts) > 2 and parts[2]:
            out["target_slope"] = float(parts[2])
    except ValueError:
        raise ValueError(f"settings: not a number in {text!r}") from None
    st = TrainConfig(**out).setting()  # reachable sparsity and slope? (names the parameter)
    if out["target_slope"] is None and st.target_slope is not None:
        out["target_slope"] = st.target_slope  # the default slope, recorded in the table
    return out


def _job(cfg_dict: dict) -> dict:
    """Run one training job (in a worker process or on a Dask worker)."""
    from eoctheory.experiments.train import TrainConfig, train
    s = train(TrainConfig(**cfg_dict))
    s.pop("history", None)
    return s


def _row(s: dict) -> dict:
    c, ini = s["config"], s["init"]
    row = {"setting": s["setting"], "activation": c["activation"], "sparsity": c["sparsity"],
           "target_slope": c["target_slope"], "seed": c["seed"]}
    row.update({k: ini[k] for k in ("tau", "m", "sigma_w2", "sigma_b2", "variance_slope",
                                    "variance_curvature")})
    row.update({k: s[k] for k in ROW_FIELDS if k in s})
    return row


def run_sweep(base: TrainConfig, settings: Sequence[dict], seeds: Sequence[int], *,
              workers: int = 1, scheduler: Any = None,
              on_result: Callable[[dict], None] | None = None) -> list[dict]:
    r"""Run every (setting, seed) and return one row per run, in (setting, seed) order.

    Parameters
    ----------
    base : TrainConfig
        Everything but activation/sparsity/target_slope/seed/out; ``base.out`` (if set) is
        the sweep directory, each run writes to ``out/runs/SETTING-seedK``.
    settings : sequence of dict
        From :func:`parse_setting`.
    seeds : sequence of int
    workers : int
        Size of the local process pool (1: run in this process).
    scheduler : str or dask.distributed.Client, optional
        A Dask scheduler address (or a client): runs are submitted there instead.
    on_result : callable, optional
        Called with each row as it arrives.
    """
    if not settings:
        raise ValueError("settings: give at least one setting")
    if not seeds:
        raise ValueError("seeds: give at least one seed")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    jobs = []
    for st in settings:
        for k in seeds:
            cfg = replace(base, seed=int(k), progress=False, **st)
            cfg.validate()
            if base.out:
                cfg.out = str(Path(base.out) / "runs" / f"{cfg.label()}-seed{k}")
            jobs.append(asdict(cfg))
    rows: dict[int, dict] = {}

    def done(i: int, s: dict) -> None:
        rows[i] = _row(s)
        if on_result is not None:
            on_result(rows[i])

    if scheduler is not None:
        from dask.distributed import Client, as_completed as dask_completed
        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futs = {client.submit(_job, j, pure=False): i for i, j in enumerate(jobs)}
            for f in dask_completed(list(futs)):
                done(futs[f], f.result())
        finally:
            if client is not scheduler:
                client.close()
    elif workers == 1:
        for i, j in enumerate(jobs):
            done(i, _job(j))
    else:
        import multiprocessing as mp
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(_job, j): i for i, j in enumerate(jobs)}
            for f in as_completed(futs):
                done(futs[f], f.result())
    return [rows[i] for i in range(len(jobs))]


def summarise(rows: Sequence[dict]) -> list[dict]:
    """One row per setting: mean/std over seeds of test accuracy and test sparsity (Table 2)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["setting"], []).append(r)
    out = []
    for name, rs in groups.items():
        acc = np.array([r["test_acc"] for r in rs], float)
        sp = np.array([r["test_sparsity"] for r in rs], float)
        r0 = rs[0]
        out.append({
            "setting": name, "activation": r0["activation"], "sparsity": r0["sparsity"],
            "target_slope": r0["target_slope"], "tau": r0["tau"], "m": r0["m"],
            "variance_slope": r0["variance_slope"], "variance_curvature": r0["variance_curvature"], "runs": len(rs),
            "diverged": int(sum(bool(r["diverged"]) for r in rs)),
            "test_acc_mean": float(np.mean(acc)),
            "test_acc_std": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
            "test_sparsity_mean": float(np.mean(sp[np.isfinite(sp)])) if np.isfinite(sp).any()
            else math.nan,
            "test_sparsity_std": float(np.std(sp[np.isfinite(sp)], ddof=1))
            if np.isfinite(sp).sum() > 1 else 0.0,
            "max_grad_norm_first_steps": finite_max([r["max_grad_norm_first_steps"]
                                                      for r in rs]),
            "epoch_seconds": float(np.mean([r["epoch_seconds"] for r in rs])),
        })
    return out


_NAMES = {"plain_relu": "ReLU", "relu": "ReLU_tau", "st": "ST_tau", "crelu": "CReLU_tau,m",
          "cst": "CST_tau,m"}


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def format_summary(summary: Sequence[dict]) -> str:
    """The summary as a Markdown table (mean ± std over seeds, like the paper's Table 2)."""
    head = ("| activation | s | V'(q*) | tau | m | V''(q*) | runs | diverged | "
            "test accuracy | test sparsity | max grad norm, first steps |")
    lines = [head, "|" + "---|" * 11]
    for r in summary:
        lines.append(
            f"| {_NAMES.get(r['activation'], r['activation'])} | {_fmt(r['sparsity'], 'g')} "
            f"| {_fmt(r['variance_slope'], '.2f')} | {_fmt(r['tau'], '.3f')} | {_fmt(r['m'], '.3f')} "
            f"| {_fmt(r['variance_curvature'], '.3g')} | {r['runs']} | {r['diverged']} "
            f"| {r['test_acc_mean']:.3f} ± {r['test_acc_std']:.3f} "
            f"| {_fmt(r['test_sparsity_mean'], '.3f')} ± {_fmt(r['test_sparsity_std'], '.3f')} "
            f"| {_fmt(r['max_grad_norm_first_steps'], '.3g')} |")
    return "\n".join(lines)


def _table(rows: Sequence[dict], fields: Sequence[str]) -> str:
    f = io.StringIO(newline="")
    w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return f.getvalue()


def write_results(out: str | os.PathLike, rows: Sequence[dict], summary: Sequence[dict],
                  meta: dict | None = None) -> None:
    """``results.csv``/``.json`` (per run) and ``summary.csv``/``.md`` (per setting).

    ``out`` is created if missing; each file is written atomically (:mod:`eoctheory.files`).
    """
    from eoctheory.files import atomic_write_text, check_writable_dir

    out = check_writable_dir(out, "out", create=True)
    texts = {"results.csv": _table(rows, ROW_FIELDS),
             "results.json": json.dumps({"meta": meta or {}, "runs": list(rows),
                                         "summary": list(summary)}, indent=1) + "\n"}
    if summary:
        texts["summary.csv"] = _table(summary, list(summary[0]))
    md = format_summary(summary)
    if meta and meta.get("command"):
        md = f"Command: `{meta['command']}`\n\n" + md
    texts["summary.md"] = md + "\n"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        atomic_write_text(out / name, text)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m eoctheory.experiments.sweep``: the ``sweep`` command under its old name."""
    from eoctheory.cli.main import main as cli_main

    return cli_main(["sweep", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
