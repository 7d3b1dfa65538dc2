"""Finite-width predictor: moments, scale covariance, agreement with simulated networks,
recommend (library and CLI). Monte Carlo checks are seeded and small (< 60 s in all)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import eoctheory as eoc
from eoctheory.theory import finite_width as fw
from eoctheory.engine import precise
from eoctheory.nets import eoc_init, simulate

ROOT = Path(__file__).resolve().parents[2]


# --- moments: closed form / quadrature against the mpmath oracle -------------------------
@pytest.mark.parametrize("name,params", [("relu", {"tau": 0.7}), ("st", {"tau": 0.3}),
                                         ("crelu", {"tau": 0.5, "m": 1.0}),
                                         ("cst", {"tau": 1.2, "m": 0.2}), ("tanh", {})])
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_moments_match_mpmath(name, params, q):
    m4 = float(precise.expectation(name, lambda f, df, z: f**4, q, **params))
    mv = float(precise.expectation(name, lambda f, df, z: (f * df) ** 2, q, **params))
    # closed forms: round-off only; tanh: the maps quadrature rule (converged to ~1e-12)
    assert float(fw.fourth_moment(name, q, **params)) == pytest.approx(m4, rel=1e-10)
    assert float(fw.slope_value_moment(name, q, **params)) == pytest.approx(mv, rel=1e-9)


def test_moments_broadcast():
    out = fw.fourth_moment("crelu", np.array([[0.5], [2.0]]), tau=np.array([0.1, 0.5, 1.0]),
                           m=1.0)
    assert out.shape == (2, 3)


# --- scale covariance: q* is a gauge for homogeneous activations --------------------------
def test_homogeneity():
    for name in eoc.PAPER_ACTIVATIONS:
        assert fw.is_homogeneous(name), name
    assert not fw.is_homogeneous("hardtanh") and not fw.is_homogeneous("tanh")
    with pytest.raises(ValueError, match="homogeneous"):
        fw.normalise("tanh", 2.0, 1.0, 0.1)


@pytest.mark.parametrize("name", ["crelu", "cst", "relu"])
def test_scale_covariance_of_map_and_prediction(name):
    qs = 4.0
    params = {"tau": 0.9} if name == "relu" else {"tau": 0.9, "m": 2.2}
    pt = eoc.eoc_point(name, qs, **params)
    nrm = fw.normalise(name, qs, float(pt.sigma_w2), float(pt.sigma_b2), **params)
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
    assert a.escape_probability == pytest.approx(b.escape_probability, abs=1e-9)
    np.testing.assert_allclose(a.q_quantiles / qs, b.q_quantiles, rtol=1e-8)
    np.testing.assert_allclose(a.gradient_ratio_quantiles, b.gradient_ratio_quantiles,
                               rtol=1e-6)


# --- the exact-in-law simulator is the network's law -----------------------------------
def test_simulate_law_matches_network_in_law():
    ini = eoc_init("crelu", sparsity=0.7, target_slope=0.9)
    N, L = 64, 15
    net = simulate(ini, width=N, depth=L, seeds=120, batch=1, seed=5)
    q, gh = fw.simulate_law(ini.activation, width=N, depth=L, seeds=3000,
                            sigma_w2=ini.sigma_w2, sigma_b2=ini.sigma_b2, seed=6)
    r_net = np.log(net.grad_h_norm[:, 0] / net.grad_h_norm[:, -1])
    r_law = np.log(gh[:, 0] / gh[:, -1])
    # two-sample KS at 0.1% level (seeded: a fixed outcome, not a flaky one)
    assert stats.ks_2samp(r_net, r_law).pvalue > 1e-3
    assert stats.ks_2samp(net.q[:, -1], q[:, -1]).pvalue > 1e-3


# --- predictor against simulation (small seeded subset of the validation grid) ----------
def _qci(x, p):
    x = np.sort(np.where(np.isfinite(x), x, np.inf))
    K = len(x)
    h = 2.58 * math.sqrt(K * p * (1 - p))  # 99% order-statistic interval
    return x[int(max(0, math.floor(K * p - h)))], x[int(min(K - 1, math.ceil(K * p + h)))]


@pytest.mark.parametrize("name,s,slope,N,L", [("crelu", 0.7, 0.7, 300, 60),
                                               ("relu", 0.5, None, 200, 60),
                                               ("cst", 0.85, 0.9, 200, 60)])
def test_prediction_agrees_with_simulation(name, s, slope, N, L):
    ini = eoc_init(name, sparsity=s, **({} if slope is None else {"target_slope": slope}))
    K = 600
    q, gh = fw.simulate_law(ini.activation, width=N, depth=L, seeds=K, sigma_w2=ini.sigma_w2,
                            sigma_b2=ini.sigma_b2, seed=11)
    p = fw.predict(ini.activation, width=N, depth=L, sigma_w2=ini.sigma_w2,
                   sigma_b2=ini.sigma_b2, levels=(0.1, 0.5, 0.9), **ini.params)
    with np.errstate(all="ignore"):
        esc = (~np.isfinite(q) | (q < 0.25) | (q > 4)).any(axis=1)
        lr = np.log(gh[:, 0] / gh[:, -1])
    f = esc.mean()
    assert abs(p.escape_probability - f) <= 3 * math.sqrt(f * (1 - f) / K) + 0.02
    for lev, pred in zip((0.1, 0.5, 0.9), p.q_quantiles[L // 2]):  # a middle layer
        lo, hi = _qci(q[:, L // 2], lev)
        assert lo <= pred <= hi, (lev, pred, lo, hi)
    lo, hi = _qci(lr, 0.5)
    # median log gradient ratio: MC interval plus the model's documented bias
    assert lo - 0.3 <= math.log(p.gradient_ratio_quantiles[1]) <= hi + 0.3


def test_escape_curve_and_risk_consistent():
    p = fw.predict("relu", sparsity=0.6, width=300, depth=80)
    assert np.all(np.diff(p.escape_by_layer) >= -1e-12)
    assert p.escape_by_layer[-1] == pytest.approx(p.escape_probability)
    assert p.escape_probability <= p.risk <= 1
    # the stable clipped activation is far safer than the unclipped one
    c = fw.predict("crelu", sparsity=0.6, target_slope=0.7, width=300, depth=80)
    assert c.escape_probability < 1e-6 < p.escape_probability


def test_predicted_risk_vectorised_equals_single():
    m = np.array([0.8, 1.5, 2.5])
    r = fw.predicted_risk("cst", width=150, depth=40, sparsity=0.8, m=m)
    for mi, ri in zip(m, r):
        assert ri == pytest.approx(fw.predict("cst", width=150, depth=40, sparsity=0.8,
                                              m=mi).risk, abs=1e-10)


def test_risk_falls_with_width():
    # not monotone at small N: there the median gradient ratio vanishes (log-normal drift),
    # which makes explosions rarer; from N = 300 on the risk falls
    r = [float(fw.predicted_risk("crelu", width=n, depth=100, sparsity=0.85, m=1.6))
         for n in (300, 1000, 3000)]
    assert r[0] > r[1] > r[2] and r[2] < 0.05


@pytest.mark.parametrize("kw,match", [({"width": 1}, "width"), ({"depth": 0}, "depth"),
                                      ({"band": 1.0}, "band"), ({"grad_limit": 0}, "grad_limit"),
                                      ({"sparsity": 1.2}, "sparsity")])
def test_bad_input_names_parameter(kw, match):
    base = dict(width=100, depth=10, sparsity=0.6, m=1.0)
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        fw.predict("crelu", **base)


# --- recommend ------------------------------------------------------------------------
def test_recommend_largest_safe_m():
    rec = fw.recommend("crelu", sparsity=0.8, width=300, depth=100, risk=0.05)
    assert rec.safe and rec.q_star_gauge and rec.q_star == 1.0
    assert rec.predicted_risk <= 0.05 + 1e-9
    worse = float(fw.predicted_risk("crelu", width=300, depth=100, tau=rec.tau,
                                    m=rec.m * 1.05))
    assert worse > 0.05
    assert rec.V_prime == pytest.approx(float(eoc.eoc.eoc_slope("crelu", 1.0, tau=rec.tau,
                                                                 m=rec.m)), rel=1e-10)
    wider = fw.recommend("crelu", sparsity=0.8, width=1000, depth=100, risk=0.05)
    assert wider.m > rec.m
    at4 = fw.recommend("crelu", sparsity=0.8, width=300, depth=100, q_star=4.0)
    assert at4.m == pytest.approx(2 * rec.m, rel=0.02)  # m in absolute units scales


def test_min_width():
    w = fw.min_width("cst", sparsity=0.8, m=1.6, depth=60, risk=0.05)
    assert w.width is not None and w.predicted_risk <= 0.05
    below = float(fw.predicted_risk("cst", width=int(w.width * 0.9), depth=60, sparsity=0.8,
                                    m=1.6))
    assert below > 0.05


def test_check_summary_fields():
    pt = eoc.eoc_point("crelu", 1.0, tau=0.5, m=1.2)
    d = fw.check_summary("crelu", {"tau": 0.5, "m": 1.2}, float(pt.sigma_w2),
                         float(pt.sigma_b2), 1.0, 300, 100)
    assert 0 <= d["predicted_risk"] <= 1 and d["verdict"] in ("safe", "risky")
    assert set(d["gradient_ratio_quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
    json.dumps(d)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "eoctheory", "recommend", *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_recommend_json():
    out = _cli("cst", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in ("m", "tau", "sigma_w2", "sigma_b2", "V_prime", "V_second", "predicted_risk",
                "gradient_ratio_quantiles", "q_star"):
        assert key in d
    assert d["predicted_risk"] <= 0.05 and d["mode"] == "m"


@pytest.mark.parametrize("args,match", [
    (("crelu", "--sparsity", "1.2", "--width", "300", "--depth", "100"), "--sparsity"),
    (("crelu", "--sparsity", "0.8", "--depth", "100"), "--width"),
    (("tanh", "--sparsity", "0.8", "--width", "300", "--depth", "100"), "tau"),
    (("relu", "--sparsity", "0.8", "--m", "1", "--depth", "100"), "--m"),
    (("crelu", "--sparsity", "0.8", "--width", "300", "--depth", "100", "--risk", "2"),
     "--risk"),
])
def test_cli_bad_input_one_line_exit_2(args, match):
    out = _cli(*args)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and match in out.stderr


def test_fig_phase_small():
    pytest.importorskip("matplotlib")
    from eoctheory.figures import REGISTRY

    fig = REGISTRY["fig_phase"][0](n=8)
    gids = {ln.get_gid() for ax in fig.axes for ln in ax.get_lines()}
    assert {"crelu-slope0.5", "cst-slope0.9"} <= gids
