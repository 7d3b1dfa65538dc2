"""Sweeps (eoctheory.experiments.sweep): setting parsing, the summary table, the local and Dask paths."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install 'eoctheory[torch]')")
pytest.importorskip("sklearn", reason="scikit-learn not installed (the tiny digits data set)")

from eoctheory.experiments import sweep  # noqa: E402
from eoctheory.experiments.train import TrainConfig  # noqa: E402

torch.set_num_threads(1)

TINY = TrainConfig(depth=3, width=16, epochs=1, lr=0.05, batch_size=64, dataset="digits",
                   grad_steps=2, threads=1, progress=False)


def test_parse_setting():
    assert sweep.parse_setting("cst:0.85:0.9") == {"activation": "cst", "sparsity": 0.85,
                                                   "target_slope": 0.9}
    assert sweep.parse_setting("crelu:0.7")["target_slope"] == 0.7  # the default slope
    assert sweep.parse_setting("plain_relu")["sparsity"] is None
    for bad, word in [("gelu:0.5", "no threshold tau"), ("relu:x", "number"),
                      ("relu:0.6:0.7", "target_slope"), ("foo", "activation"),
                      ("custom:0.5", "needs expr")]:
        with pytest.raises(ValueError, match=word):
            sweep.parse_setting(bad)
    custom = sweep.parse_setting("custom:0.7", expr="Max(0, x - tau)")
    assert custom["expr"] == "Max(0, x - tau)" and custom["sparsity"] == 0.7


def test_summary_mean_and_std_over_seeds():
    rows = [dict(setting="a", activation="relu", sparsity=0.6, target_slope=None, tau=0.25,
                 m=None, variance_slope=1.0, variance_curvature=0.1, test_acc=acc, test_sparsity=sp,
                 diverged=d, max_grad_norm_first_steps=1.0, epoch_seconds=1.0)
            for acc, sp, d in [(0.9, 0.6, False), (0.1, 0.0, True)]]
    (s,) = sweep.summarise(rows)
    assert s["test_acc_mean"] == pytest.approx(0.5)
    assert s["test_acc_std"] == pytest.approx(np.std([0.9, 0.1], ddof=1))
    assert s["diverged"] == 1 and s["runs"] == 2
    md = sweep.format_summary([s])
    assert "0.500 ± 0.566" in md and "ReLU_tau" in md


def test_local_sweep_in_process_writes_tables(tmp_path):
    base = TrainConfig(**{**TINY.__dict__, "out": str(tmp_path)})
    settings = [sweep.parse_setting(s) for s in ("plain_relu", "crelu:0.7:0.7")]
    rows = sweep.run_sweep(base, settings, [0, 1], workers=1)
    assert [(r["activation"], r["seed"]) for r in rows] == [
        ("plain_relu", 0), ("plain_relu", 1), ("crelu", 0), ("crelu", 1)]
    summary = sweep.summarise(rows)
    sweep.write_results(tmp_path, rows, summary, {"command": "python -m eoctheory.experiments.sweep x"})
    with open(tmp_path / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert json.loads((tmp_path / "results.json").read_text())["summary"][1]["runs"] == 2
    assert "Command: `python -m eoctheory.experiments.sweep x`" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "runs" / "crelu-s0.7-v0.7-seed1" / "log.jsonl").exists()


def test_process_pool_and_dask_give_the_same_results(tmp_path):
    """Same seeds -> identical numbers whether runs go to a process pool or a Dask cluster."""
    distributed = pytest.importorskip("dask.distributed",
                                      reason="dask[distributed] not installed")
    settings = [sweep.parse_setting("cst:0.7:0.7")]
    pool = sweep.run_sweep(TINY, settings, [0, 1], workers=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        dask_rows = sweep.run_sweep(TINY, settings, [0, 1], scheduler=cluster.scheduler_address)
    for a, b in zip(pool, dask_rows):
        assert a["seed"] == b["seed"]
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-12)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_sweep_cli_bad_input_exit_2(capsys):
    assert sweep.main(["--settings", "relu:0.2", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sparsity" in err
