"""Finite-width predictor: moments, agreement with simulated networks, check summary.
Monte Carlo checks are seeded and small (< 60 s in all)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import eoctheory as eoc
from eoctheory.theory import finite_width as fw
from eoctheory.theory.finite_width_law import simulate_law
from eoctheory.engine import precise
from eoctheory.nets import eoc_init, simulate


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


# --- the exact-in-law simulator is the network's law -----------------------------------
def test_simulate_law_matches_network_in_law():
    ini = eoc_init("crelu", sparsity=0.7, target_slope=0.9)
    N, L = 64, 15
    net = simulate(ini, width=N, depth=L, seeds=120, batch=1, seed=5)
    q, gh = simulate_law(ini.activation, width=N, depth=L, seeds=3000,
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


def _law_failures(act, params, sw2, q, gh, q_star=1.0):
    """Drift, explosion, vanishing of simulated networks, by the predictor's definitions
    (computed here from the measured q^l with the maps, independently of the chain)."""
    from eoctheory.engine import maps

    with np.errstate(all="ignore"):
        qq = np.where(np.isfinite(q), q, 1e100)
        s = maps.sparsity(act, np.clip(qq, 1e-100, 1e100), **params)
        nu = maps.slope_moment(act, np.clip(qq, 1e-100, 1e100), **params)
        s0 = maps.sparsity(act, q_star, **params)
        nu0 = maps.slope_moment(act, q_star, **params)
        drift = ((np.abs(s - s0) > fw.SPARSITY_DRIFT) | (nu / nu0 > fw.CHI_DRIFT)
                 | (nu / nu0 < 1 / fw.CHI_DRIFT) | ~np.isfinite(q)).any(axis=1)
        r = gh[:, 0] / gh[:, -1]
    g = fw.GRAD_LIMIT
    return drift, ~drift & (r > g), ~drift & (r < 1 / g), np.log(r)


@pytest.mark.parametrize("name,s,slope,N,L", [("crelu", 0.7, 0.7, 300, 60),
                                               ("relu", 0.6, None, 200, 60),
                                               ("cst", 0.85, 0.9, 200, 60)])
def test_prediction_agrees_with_simulation(name, s, slope, N, L):
    ini = eoc_init(name, sparsity=s, **({} if slope is None else {"target_slope": slope}))
    K = 600
    q, gh = simulate_law(ini.activation, width=N, depth=L, seeds=K, sigma_w2=ini.sigma_w2,
                         sigma_b2=ini.sigma_b2, seed=11)
    p = fw.predict(ini.activation, width=N, depth=L, sigma_w2=ini.sigma_w2,
                   sigma_b2=ini.sigma_b2, levels=(0.1, 0.5, 0.9), **ini.params)
    drift, expl, van, lr = _law_failures(ini.activation, ini.params, ini.sigma_w2, q, gh)
    # 3 binomial standard errors plus 0.02 for the chain's Gaussian/Gamma closure
    for pred, obs in ((p.drift_probability, drift), (p.explosion_probability, expl),
                      (p.vanishing_probability, van)):
        f = obs.mean()
        assert abs(pred - f) <= 3 * math.sqrt(f * (1 - f) / K) + 0.02, (pred, f)
    for lev, pred in zip((0.1, 0.5, 0.9), p.q_quantiles[L // 2]):  # a middle layer
        lo, hi = _qci(q[:, L // 2], lev)
        assert lo <= pred <= hi, (lev, pred, lo, hi)
    lo, hi = _qci(lr, 0.5)
    # median log gradient ratio: MC interval plus the model's documented bias
    assert lo - 0.3 <= math.log(p.gradient_ratio_quantiles[1]) <= hi + 0.3


def test_drift_curve_and_risk_consistent():
    p = fw.predict("st", sparsity=0.6, width=300, depth=80)
    assert np.all(np.diff(p.drift_by_layer) >= -1e-12)
    assert p.drift_by_layer[-1] == pytest.approx(p.drift_probability)
    parts = p.drift_probability + p.explosion_probability + p.vanishing_probability
    assert p.risk == pytest.approx(parts, abs=1e-9)
    # the stable clipped activation is far safer than the unclipped one
    c = fw.predict("crelu", sparsity=0.6, target_slope=0.7, width=300, depth=80)
    assert c.risk < 0.01 < 0.5 < p.risk


@pytest.mark.parametrize("name", ["plain_relu", "identity"])
def test_homogeneous_not_penalised_for_scale(name):
    # s and chi_1 do not depend on q: no drift whatever the walk does, and the same risk
    # at q* = 1 and q* = 100 (q* is a gauge)
    a = fw.predict(name, width=300, depth=100)
    b = fw.predict(name, width=300, depth=100, q_star=100.0)
    assert a.drift_probability < 1e-12 and a.risk < 1e-3  # round-off of the mass sum
    assert b.risk == pytest.approx(a.risk, abs=1e-9)


def test_relu_gradient_spread_grows_like_depth_over_width():
    # Hanin (2018): Var log(|grad 1|/|grad L|) grows like sum_l 1/N_l = L/N for ReLU nets.
    # Checked against the exact-in-law network, not assumed: the predicted sd of the log
    # ratio within 10% of the simulated one (600 nets: sd of an sd ~3%), and the variance
    # about doubling when N halves at fixed L.
    ini = eoc_init("plain_relu")
    sds = {}
    for N, L in ((50, 100), (100, 100)):
        q, gh = simulate_law(ini.activation, width=N, depth=L, seeds=600,
                             sigma_w2=ini.sigma_w2, sigma_b2=ini.sigma_b2, seed=3)
        sim = float(np.std(np.log(gh[:, 0] / gh[:, -1])))
        p = fw.predict("plain_relu", width=N, depth=L)
        assert p.log_ratio_std == pytest.approx(sim, rel=0.1)
        sds[N] = sim
    assert (sds[50] / sds[100]) ** 2 == pytest.approx(2.0, rel=0.25)
    # and the verdict follows: deep and narrow ReLU is no longer stable
    assert fw.predict("plain_relu", width=300, depth=100).risk < 0.01
    assert fw.predict("plain_relu", width=20, depth=400).risk > 0.2


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
                                      ({"sparsity_drift": 0}, "sparsity_drift"),
                                      ({"chi_drift": 1.0}, "chi_drift"),
                                      ({"sparsity": 1.2}, "sparsity")])
def test_bad_input_names_parameter(kw, match):
    base = dict(width=100, depth=10, sparsity=0.6, m=1.0)
    base.update(kw)
    with pytest.raises(ValueError, match=match):
        fw.predict("crelu", **base)


def test_check_summary_fields():
    pt = eoc.eoc_point("crelu", 1.0, tau=0.5, m=1.2)
    d = fw.check_summary("crelu", {"tau": 0.5, "m": 1.2}, float(pt.sigma_w2),
                         float(pt.sigma_b2), 1.0, 300, 100)
    assert 0 <= d["predicted_risk"] <= 1
    assert d["verdict"] == fw.verdict_of(d["predicted_risk"], 0.05)
    assert set(d["gradient_ratio_quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
    json.dumps(d)


def test_verdict_of():
    assert [fw.verdict_of(r, 0.05) for r in (0.05, 0.2, 0.21)] == \
        ["stable", "marginal", "unstable"]


def test_fig_phase_small():
    pytest.importorskip("matplotlib")
    from eoctheory.figures import REGISTRY

    fig = REGISTRY["fig_phase"][0](n=8)
    gids = {ln.get_gid() for ax in fig.axes for ln in ax.get_lines()}
    assert {"crelu-slope0.5", "cst-slope0.9"} <= gids
