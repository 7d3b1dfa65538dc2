"""Resource limits (eoctheory.limits) and their checks at every public edge that allocates."""

from __future__ import annotations

import math
import os
import time
import tracemalloc

import numpy as np
import pytest

from eoctheory import limits
from eoctheory.limits import check_resources, memory_limit, time_limit


@pytest.fixture(autouse=True)
def default_limits(monkeypatch):
    monkeypatch.delenv(limits.MEMORY_ENV, raising=False)
    monkeypatch.delenv(limits.SECONDS_ENV, raising=False)


def test_memory_limit_is_half_the_machine_or_the_environment(monkeypatch):
    phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory_limit() == pytest.approx(min(phys, limits.physical_memory()) / 2)
    for text, value in (("16G", 16 * 2**30), ("500M", 500 * 2**20), ("1.5GiB", 1.5 * 2**30),
                        ("12345", 12345), ("2TB", 2 * 2**40)):
        monkeypatch.setenv(limits.MEMORY_ENV, text)
        assert memory_limit() == value
    for bad in ("lots", "-1G", "0"):
        monkeypatch.setenv(limits.MEMORY_ENV, bad)
        with pytest.raises(ValueError, match=limits.MEMORY_ENV):
            memory_limit()


def test_time_limit_default_and_environment(monkeypatch):
    assert time_limit() == limits.MAX_SECONDS == 4 * 3600
    monkeypatch.setenv(limits.SECONDS_ENV, "60")
    assert time_limit() == 60
    monkeypatch.setenv(limits.SECONDS_ENV, "0")
    assert time_limit() == math.inf
    monkeypatch.setenv(limits.SECONDS_ENV, "soon")
    with pytest.raises(ValueError, match=limits.SECONDS_ENV):
        time_limit()


def test_check_resources_messages(monkeypatch):
    check_resources("small", nbytes=1e6, operations=1e9)
    with pytest.raises(ValueError, match=r"^big\(n=9\) needs about 1 PB of memory.*"
                                         r"lower n$"):
        check_resources("big(n=9)", nbytes=1e15, hint="lower n")
    with pytest.raises(ValueError, match=r"would take at least 13\.9 h.*limit of 4 h"):
        check_resources("slow", nbytes=1, operations=1e15)
    with pytest.raises(ValueError, match="would take"):
        check_resources("nan", nbytes=1, operations=float("nan"))
    monkeypatch.setenv(limits.SECONDS_ENV, "0")
    check_resources("slow", nbytes=1, operations=1e20)  # no time limit


# --- the public edges -------------------------------------------------------------------
def _fast_refusal(func, text="memory|would take"):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=text) as exc:
        func()
    assert time.perf_counter() - t0 < 5, "refused only after some work"
    assert "\n" not in str(exc.value)
    return str(exc.value)


@pytest.fixture(scope="module")
def ini():
    from eoctheory.nets.network import eoc_init

    return eoc_init("relu", sparsity=0.6)


@pytest.mark.parametrize("kw", [dict(width=100_000), dict(seeds=10**9), dict(depth=10**8),
                                dict(seeds=10**6),
                                dict(width=3000, kernel_size=3, channels=3000, positions=64)])
def test_simulate_refuses_before_allocating(ini, kw):
    from eoctheory.nets.simulation import simulate

    msg = _fast_refusal(lambda: simulate(ini, **kw))
    assert msg.startswith("simulate(")


def test_simulate_channels(ini):
    from eoctheory.nets.simulation import simulate

    with pytest.raises(ValueError, match="channels"):
        simulate(ini, width=8, depth=2, seeds=1, kernel_size=3, channels=0)
    with pytest.raises(ValueError, match="channels is for a CNN"):
        simulate(ini, width=8, depth=2, seeds=1, channels=4)


def test_network_and_variance_trajectories_refuse(ini):
    from eoctheory.nets.network import Network
    from eoctheory.nets.trajectories import variance_trajectories

    _fast_refusal(lambda: Network.from_init(ini, [100_000] * 101))
    _fast_refusal(lambda: variance_trajectories(ini, 10**6, 100, 10**4, batch=8))
    _fast_refusal(lambda: variance_trajectories(ini, 100_000, 1000, 10, method="weights"))


def test_predictor_refuses_before_allocating():
    from eoctheory.theory import finite_width as fw
    from eoctheory.theory.recommend import min_width, recommend

    kw = dict(sparsity=0.7, target_slope=0.7)
    _fast_refusal(lambda: fw.predict("crelu", width=10**9, depth=10**6, **kw))
    _fast_refusal(lambda: fw.predicted_risk("crelu", width=300, depth=10**8, **kw))
    _fast_refusal(lambda: recommend("cst", sparsity=0.8, width=300, depth=10**6))
    _fast_refusal(lambda: min_width("cst", sparsity=0.8, m=1.6, depth=10**6))
    _fast_refusal(lambda: fw.check_summary("relu", {"tau": 0.2}, 2.0, 0.1, 1.0, 300, 10**7))
    with pytest.raises(ValueError, match="risk"):
        fw.check_summary("relu", {"tau": 0.2}, 2.0, 0.1, 1.0, 300, 10, risk=1.5)


def test_training_memory_is_checked_in_validate():
    from eoctheory.experiments.train import TrainConfig

    cfg = TrainConfig(activation="relu", sparsity=0.6, width=100_000, depth=100)
    _fast_refusal(cfg.validate, "memory")
    TrainConfig(activation="relu", sparsity=0.6).validate()  # the paper's 100 x 300 fits


# --- the estimates are estimates of the real thing ---------------------------------------
def _peak(func) -> float:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kw", [dict(width=400, depth=20, seeds=2),
                                dict(width=300, depth=20, seeds=2, gradients=False),
                                dict(width=64, depth=10, seeds=2, kernel_size=3, positions=16)])
def test_simulate_memory_estimate_matches_the_measured_peak(ini, kw):
    """NumPy reports its allocations to tracemalloc: the estimate is within 30%."""
    from eoctheory.nets.simulation import estimate_simulate, simulate

    peak = _peak(lambda: simulate(ini, **kw))
    est = estimate_simulate(**kw)[0]
    assert 0.7 < est / peak < 1.3, (est, peak)


def test_predict_memory_estimate_is_an_upper_bound_within_3x():
    from eoctheory.theory import finite_width as fw

    fw.predict("crelu", sparsity=0.7, target_slope=0.7, width=300, depth=5)  # warm caches
    peak = _peak(lambda: fw.predict("crelu", sparsity=0.7, target_slope=0.7, width=10**5,  # 300 layers: ~4 s
                                    depth=300))
    est = fw.estimate_predict(10**5, 300)[0]
    assert 1.0 < est / peak < 3.0, (est, peak)
    assert np.isfinite(fw.estimate_predict(300, 100, settings=48, quantiles=False)[1])
