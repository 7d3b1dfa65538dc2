"""Recommendations from the finite-width predictor: scale covariance (q* as a gauge), the
largest safe m, the smallest safe width (library and CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import eoctheory as eoc
from eoctheory.theory import finite_width as fw
from eoctheory.theory.recommend import is_homogeneous, min_width, normalise, recommend

ROOT = Path(__file__).resolve().parents[2]


# --- scale covariance: q* is a gauge for homogeneous activations --------------------------
def test_homogeneity():
    for name in eoc.PAPER_ACTIVATIONS:
        assert is_homogeneous(name), name
    assert not is_homogeneous("hardtanh") and not is_homogeneous("tanh")
    with pytest.raises(ValueError, match="homogeneous"):
        normalise("tanh", 2.0, 1.0, 0.1)


@pytest.mark.parametrize("name", ["crelu", "cst", "relu"])
def test_scale_covariance_of_map_and_prediction(name):
    qs = 4.0
    params = {"tau": 0.9} if name == "relu" else {"tau": 0.9, "m": 2.2}
    pt = eoc.eoc_point(name, qs, **params)
    nrm = normalise(name, qs, float(pt.sigma_w2), float(pt.sigma_b2), **params)
    p1 = {k: nrm[k] for k in params}
    y = np.geomspace(0.05, 20, 50)
    lhs = eoc.variance_map(name, qs * y, pt.sigma_w2, pt.sigma_b2, **params) / qs
    rhs = eoc.variance_map(name, y, nrm["sigma_w2"], nrm["sigma_b2"], **p1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    # the EoC point at q* = 1 of the scaled parameters is the normalised one
    pt1 = eoc.eoc_point(name, 1.0, **p1)
    assert float(pt1.sigma_w2) == pytest.approx(nrm["sigma_w2"], rel=1e-12)
    assert float(pt1.sigma_b2) == pytest.approx(nrm["sigma_b2"], rel=1e-10, abs=1e-14)
    a = fw.predict(name, width=200, depth=60, q_star=qs, **params)
    b = fw.predict(name, width=200, depth=60, q_star=1.0, **p1)
    assert a.risk == pytest.approx(b.risk, abs=1e-9)
    assert a.drift_probability == pytest.approx(b.drift_probability, abs=1e-9)
    assert a.vanishing_probability == pytest.approx(b.vanishing_probability, abs=1e-9)
    np.testing.assert_allclose(a.q_quantiles / qs, b.q_quantiles, rtol=1e-8)
    np.testing.assert_allclose(a.gradient_ratio_quantiles, b.gradient_ratio_quantiles,
                               rtol=1e-6)


# --- recommend ------------------------------------------------------------------------
def test_recommend_largest_safe_m():
    """Default margin 0.5: the largest m whose predicted risk is <= 0.5 x risk."""
    rec = recommend("crelu", sparsity=0.8, width=300, depth=100, risk=0.05)
    assert rec.safe and rec.margin_kept and rec.q_star_gauge and rec.q_star == 1.0
    assert rec.margin == 0.5 and rec.risk_threshold == 0.05
    assert rec.predicted_risk <= 0.5 * 0.05 + 1e-9
    assert rec.verdict == fw.verdict_of(rec.predicted_risk, 0.05) == "stable"
    assert rec.band == fw.SPAN and rec.grad_limit == fw.GRAD_LIMIT
    worse = float(fw.predicted_risk("crelu", width=300, depth=100, tau=rec.tau,
                                    m=rec.m * 1.05))
    assert worse > 0.5 * 0.05
    parts = rec.drift_probability + rec.explosion_probability + rec.vanishing_probability
    assert parts == pytest.approx(rec.predicted_risk, abs=1e-9)
    assert rec.escape_probability == rec.drift_probability  # deprecated alias
    assert rec.variance_slope == pytest.approx(float(eoc.eoc.eoc_slope("crelu", 1.0, tau=rec.tau,
                                                                 m=rec.m)), rel=1e-10)
    wider = recommend("crelu", sparsity=0.8, width=1000, depth=100, risk=0.05)
    assert wider.m > rec.m
    at4 = recommend("crelu", sparsity=0.8, width=300, depth=100, q_star=4.0)
    assert at4.m == pytest.approx(2 * rec.m, rel=0.02)  # m in absolute units scales


@pytest.mark.parametrize("margin", [0.2, 0.5, 1.0])
def test_recommend_margin(margin):
    """The pick keeps risk <= margin x risk; margin 1 is the edge (an m >= the default)."""
    rec = recommend("cst", sparsity=0.8, width=300, depth=100, risk=0.05, margin=margin)
    assert rec.safe and rec.margin_kept and rec.margin == margin
    assert rec.predicted_risk <= margin * 0.05 + 1e-9
    # the next m up (bisection resolution ~0.2%) is over the target
    worse = float(fw.predicted_risk("cst", width=300, depth=100, tau=rec.tau, m=rec.m * 1.02))
    assert worse > margin * 0.05
    default = recommend("cst", sparsity=0.8, width=300, depth=100, risk=0.05)
    assert (rec.m >= default.m) == (margin >= 0.5)
    if margin == 1.0:
        assert rec.m > default.m


def test_recommend_margin_refused():
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="margin"):
            recommend("crelu", sparsity=0.8, width=300, depth=10, margin=bad)
        with pytest.raises(ValueError, match="margin"):
            min_width("crelu", sparsity=0.8, m=1.0, depth=10, margin=bad)


def test_recommend_not_safe():
    rec = recommend("cst", sparsity=0.8, width=2, depth=100)
    assert not rec.safe and not rec.margin_kept and rec.m_min_safe is None
    assert rec.verdict == fw.verdict_of(rec.predicted_risk, 0.05) != "stable"


def test_min_width():
    w = min_width("cst", sparsity=0.8, m=1.6, depth=60, risk=0.05)
    assert w.width is not None and w.predicted_risk <= 0.5 * 0.05 and w.margin == 0.5
    assert w.verdict == "stable" and w.safe
    below = float(fw.predicted_risk("cst", width=int(w.width * 0.9), depth=60, sparsity=0.8,
                                    m=1.6))
    assert below > 0.5 * 0.05
    edge = min_width("cst", sparsity=0.8, m=1.6, depth=60, risk=0.05, margin=1.0)
    assert edge.width <= w.width and edge.predicted_risk <= 0.05


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "eoctheory", "recommend", *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_recommend_json():
    out = _cli("cst", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in ("m", "tau", "sigma_w2", "sigma_b2", "variance_slope", "variance_curvature", "predicted_risk",
                "gradient_ratio_quantiles", "q_star", "drift_probability",
                "vanishing_probability", "margin", "risk_threshold", "verdict"):
        assert key in d
    assert d["predicted_risk"] <= 0.025 and d["mode"] == "m" and d["margin"] == 0.5
    assert d["verdict"] == "stable" and d["band"] == 16 and d["grad_limit"] == 1e3
    edge = json.loads(_cli("cst", "--sparsity", "0.8", "--width", "300", "--depth", "100",
                           "--margin", "1", "--json").stdout)
    assert d["predicted_risk"] <= edge["predicted_risk"] <= 0.05 and edge["m"] >= d["m"]
    text = _cli("cst", "--sparsity", "0.8", "--width", "300", "--depth", "100")
    assert text.returncode == 0 and "margin 0.5" in text.stdout and "check: stable" in text.stdout


def test_cli_recommend_not_safe_exits_4():
    for extra in ((), ("--json",)):
        out = _cli("relu", "--sparsity", "0.8", "--width", "300", "--depth", "100", *extra)
        assert out.returncode == 4, out.stderr
        assert out.stderr == "" and ("NOT SAFE" in out.stdout or '"safe": false' in out.stdout)
    out = _cli("cst", "--sparsity", "0.8", "--m", "1.6", "--depth", "60", "--max-width", "32",
               "--json")
    assert out.returncode == 4, out.stderr
    assert json.loads(out.stdout)["width"] is None


@pytest.mark.parametrize("args,match", [
    (("crelu", "--sparsity", "1.2", "--width", "300", "--depth", "100"), "--sparsity"),
    (("crelu", "--sparsity", "0.8", "--depth", "100"), "--width"),
    (("tanh", "--sparsity", "0.8", "--width", "300", "--depth", "100"), "tau"),
    (("relu", "--sparsity", "0.8", "--m", "1", "--depth", "100"), "--m"),
    (("crelu", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--risk", "2"),
     "--risk"),
    (("crelu", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--margin", "0"),
     "--margin"),
    (("crelu", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--margin", "1.5"),
     "--margin"),
])
def test_cli_bad_input_one_line_exit_2(args, match):
    out = _cli(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and match in out.stderr
