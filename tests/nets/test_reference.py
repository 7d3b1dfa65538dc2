"""The NumPy reference network (route 3 of the test triangle: finite-width Monte Carlo).

Every statistical test is seeded (so it is deterministic) and its tolerance is derived from
the spread it measures: for a seed-mean we allow 5 standard errors (estimated from the seeds
themselves) plus, where the activation has V'(q*) = 1 (ReLU_tau, ST_tau on the EoC), a
finite-width drift of order depth/width that the infinite-width map does not contain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import eoctheory as eoc
from eoctheory.nets import (
    Network,
    band_escape,
    correlated_inputs,
    eoc_init,
    failures,
    pointwise,
    simulate,
    theory_trajectory,
    variance_trajectories,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INITS = {
    "relu": dict(sparsity=0.7),
    "st": dict(sparsity=0.7),
    "crelu": dict(sparsity=0.7, target_slope=0.7),
    "cst": dict(sparsity=0.7, target_slope=0.7),
    "tanh": {},
}


@pytest.fixture(scope="module")
def inits():
    return {name: eoc_init(name, **kw) for name, kw in INITS.items()}


# --- kernels ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,params", [
    ("relu", {"tau": 0.6}), ("st", {"tau": 0.4}), ("crelu", {"tau": 0.3, "m": 0.8}),
    ("cst", {"tau": 0.5, "m": 1.2}), ("plain_relu", {}), ("hardtanh", {}), ("tanh", {}),
    ("identity", {}), ("st", {"tau": 0.0})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hand_written_kernels_match_generated_kernels(name, params, dtype):
    fast, slow = pointwise(name, kernel="hand", **params), pointwise(name, kernel="generated",
                                                                     **params)
    assert not fast.generated and slow.generated
    h = np.random.default_rng(0).normal(0, 2, (50, 40)).astype(dtype)
    a1, a2 = np.empty_like(h), np.empty_like(h)
    fast.phi(h, a1)
    slow.phi(h, a2)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(a1, a2, rtol=tol, atol=tol)
    g1, g2 = np.ones_like(h), np.ones_like(h)
    m, t = np.empty(h.shape, bool), np.empty_like(h)
    fast.mul_derivative(g1, h, a1, m, t)
    slow.mul_derivative(g2, h, a2, m, t)
    np.testing.assert_allclose(g1, g2, rtol=tol, atol=tol)


def test_user_activation_goes_generic():
    act = eoc.Activation.from_string("Piecewise((0, x < tau), (x - tau, True))", "mine",
                                     params={"tau": 0.3})
    assert pointwise(act).generated
    net = Network(act, [20, 30, 30], 2.0, 0.1, rng=0)
    ref = Network("relu", [20, 30, 30], 2.0, 0.1, rng=0, tau=0.3)
    x = np.random.default_rng(1).standard_normal((4, 20))
    np.testing.assert_allclose(net.forward(x).output, ref.forward(x).output, rtol=1e-12)


# --- hand-written backward vs finite differences ------------------------------------------
@pytest.mark.parametrize("name,params", [("relu", {"tau": 0.2}), ("st", {"tau": 0.3}),
                                         ("crelu", {"tau": 0.2, "m": 0.7}),
                                         ("cst", {"tau": 0.2, "m": 0.9}), ("tanh", {}),
                                         ("gelu", {})])
@pytest.mark.parametrize("kernel", [1, 3])
def test_backward_matches_finite_differences(name, params, kernel):
    # float64, tiny network; central differences with eps = 1e-6 have error O(eps^2) for
    # smooth phi; for piecewise-linear phi no pre-activation lies within eps of a kink
    # (checked: the smallest distance is ~1e-3), so the loss is locally quadratic.
    net = Network(name, [5, 6, 4, 3], 1.7, 0.1, kernel_size=kernel, rng=3, **params)
    shape = (3, 5) if kernel == 1 else (3, 4, 5)
    x = np.random.default_rng(4).standard_normal(shape)
    rec = net.forward(x)
    y = np.random.default_rng(5).standard_normal(rec.output.shape)
    back = net.backward(target=y)
    assert back.loss == pytest.approx(net.loss(x, y), rel=1e-14)
    gw = [g.copy() for g in back.grad_w]
    gb = [g.copy() for g in back.grad_b]
    eps = 1e-6
    for params_, grads in ((net.weights, gw), (net.biases, gb)):
        for P, G in zip(params_, grads):
            fd = np.empty_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + eps
                lp = net.loss(x, y)
                P[idx] = old - eps
                lm = net.loss(x, y)
                P[idx] = old
                fd[idx] = (lp - lm) / (2 * eps)
            np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-7 * np.abs(G).max())
    np.testing.assert_allclose(back.grad_w_norm, [np.linalg.norm(g) for g in gw], rtol=1e-12)
    np.testing.assert_allclose(back.grad_b_norm, [np.linalg.norm(g) for g in gb], rtol=1e-12)
    # ||delta^L|| = ||h^L - y||
    assert back.grad_h_norm[-1] == pytest.approx(np.linalg.norm(rec.output - y), rel=1e-12)


def test_grad_output_equals_target_form():
    net = Network("crelu", [8, 10, 6], 2.0, 0.2, rng=1, tau=0.1, m=1.0)
    x = np.random.default_rng(0).standard_normal((5, 8))
    rec = net.forward(x)
    y = np.zeros_like(rec.output)
    a = net.backward(target=y).grad_w_norm.copy()
    b = net.backward(grad_output=rec.output).grad_w_norm
    np.testing.assert_allclose(a, b, rtol=1e-14)


# --- conventions ---------------------------------------------------------------------------
def test_preserve_first_layer_and_inputs():
    x = correlated_inputs(6, 400, q=2.5, rho=0.3, rng=0)
    np.testing.assert_allclose(np.sum(x * x, axis=1) / 400, 2.5, rtol=1e-12)
    c = np.sum(x[0] * x[1]) / np.sqrt(np.sum(x[0] ** 2) * np.sum(x[1] ** 2))
    assert c == pytest.approx(0.3, abs=1e-12)
    net = Network("relu", [400, 400], 3.0, 0.5, first_layer="preserve", rng=0, tau=0.2)
    assert not np.any(net.biases[0])
    assert np.std(net.weights[0]) == pytest.approx(np.sqrt(1 / 400), rel=0.01)  # 1.6e5 draws
    std = Network("relu", [400, 400], 3.0, 0.5, rng=0, tau=0.2)
    assert np.std(std.weights[0]) == pytest.approx(np.sqrt(3.0 / 400), rel=0.01)


def test_trajectory_weights_mode_is_the_network(inits):
    ini = inits["crelu"]
    tr = variance_trajectories(ini, 64, 12, 3, method="weights", batch=4, seed=7)
    from eoctheory.nets import seed_rng

    x = correlated_inputs(4, 64, q=1.0, rho=0.5, rng=seed_rng(7, 10**6))
    for k in range(3):
        net = Network.from_init(ini, [64] * 13, first_layer="preserve", rng=seed_rng(7, k))
        rec = net.forward(x, keep=False)
        np.testing.assert_allclose(tr.q[k], rec.q.mean(axis=1), rtol=1e-10)
        np.testing.assert_allclose(tr.sparsity[k], rec.sparsity, atol=1e-12)


def test_float32_network_runs_in_float32():
    net = Network("cst", [50, 60, 60], 2.0, 0.1, dtype=np.float32, rng=0, tau=0.3, m=1.0)
    assert all(W.dtype == np.float32 for W in net.weights)
    rec = net.forward(np.ones((3, 50)))
    assert rec.output.dtype == np.float32
    back = net.backward(grad_output=np.ones_like(rec.output))
    assert back.grad_w[0].dtype == np.float32


@pytest.mark.parametrize("kwargs,match", [
    (dict(widths=[10]), "widths"), (dict(widths=[10, 0]), "widths"),
    (dict(kernel_size=2), "kernel_size"), (dict(dtype=np.int32), "dtype"),
    (dict(first_layer="foo"), "first_layer"), (dict(sigma_w2=-1.0), "sigma_w2")])
def test_bad_network_arguments(kwargs, match):
    base = dict(activation="relu", widths=[10, 10], sigma_w2=2.0, sigma_b2=0.0)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Network(**base)


def test_bad_call_arguments():
    net = Network("relu", [10, 10], 2.0, 0.0, rng=0)
    with pytest.raises(ValueError, match="backward needs"):
        net.backward(grad_output=np.ones((1, 10)))
    with pytest.raises(ValueError, match="N_0"):
        net.forward(np.ones((2, 11)))
    net.forward(np.ones((2, 10)))
    with pytest.raises(ValueError, match="target"):
        net.backward(target=np.ones((3, 10)))
    with pytest.raises(ValueError, match="exactly one"):
        net.backward()
    with pytest.raises(ValueError, match="pairs"):
        net.forward(np.ones((2, 10)), pairs="all")
    with pytest.raises(ValueError, match="sparsity"):
        eoc_init("tanh", sparsity=0.5)
    with pytest.raises(ValueError, match="target_slope"):
        eoc_init("crelu", sparsity=0.7, m=1.0, target_slope=0.7)
    with pytest.raises(ValueError, match="band"):
        band_escape(np.ones((2, 3)), np.ones(3), band=1.0)
    ini = eoc_init("relu", sparsity=0.7)
    for kw, word in [({"sparsity_drift": 0}, "sparsity_drift"), ({"chi_drift": 1}, "chi_drift"),
                     ({"grad_limit": 0.5}, "grad_limit"), ({"band": 4}, "band")]:
        with pytest.raises(ValueError, match=word):
            failures(ini, np.ones((2, 3)), **kw)
    with pytest.raises(ValueError, match="grad_h"):
        failures(ini, np.ones((2, 3)), np.ones((2, 2)))


# --- finite width against the infinite-width maps ------------------------------------------
@pytest.fixture(scope="module")
def wide(inits):
    """Width 1000, depth 10, 4 seeds x 8 inputs (4 pairs with rho = 0.5) per activation."""
    return {name: simulate(ini, width=1000, depth=10, seeds=4, batch=8, gradients=False,
                           seed=11) for name, ini in inits.items()}


@pytest.mark.parametrize("name", list(INITS))
def test_variance_follows_variance_map(name, wide, inits):
    res = wide[name]
    # theory on the EoC with the first layer at q*: q^l = q* = 1 at every layer
    np.testing.assert_allclose(res.q_theory, 1.0, rtol=1e-9)
    # Tolerance (4 sigma): one layer of N = 1000 Gaussian weights gives the batch-mean q^l a
    # relative sd of about sqrt(2/N) = 0.045 (the paired inputs are correlated, so the batch
    # average barely helps). The map damps it by V'(q*) per layer, so after l layers the sd
    # is 0.045 sqrt(min(l, 1/(1 - V'^2))): stationary for CReLU/CST/tanh, a random walk for
    # ReLU_tau/ST_tau (V' = 1). The mean of K = 4 seeds divides it by 2.
    ini = inits[name]
    layers = np.arange(1, res.depth + 1)
    vp2 = min(ini.variance_slope ** 2, 1 - 1e-9)
    sd = 0.045 * np.sqrt(np.minimum(layers, 1 / (1 - vp2))) / np.sqrt(res.seeds)
    assert np.all(np.abs(res.q_mean - res.q_theory) < 4 * sd)
    # sparsity given each seed's measured q^l (eq. 12 at variance q^l). The independent units
    # are the N neurons, not the N x batch activations: each has its own bias b_i and weight
    # norm, and with sigma_b2 ~ 0.35 its own sparsity spreads with sd ~ 0.24 over neurons, so
    # the K-seed mean has sd ~ 0.24 / sqrt(N K) = 0.0038; 0.015 is 4 sd. Against the theory
    # at q* itself: 0.03 (q^l drifts, see above).
    s_at_q = eoc.sparsity(ini.activation, res.q)
    np.testing.assert_allclose(res.sparsity_mean, s_at_q.mean(axis=0), atol=0.015)
    np.testing.assert_allclose(res.sparsity_mean, res.sparsity_theory, atol=0.03)
    assert res.failed_fraction == 0.0


@pytest.mark.parametrize("name", list(INITS))
def test_correlation_follows_correlation_map(name, wide, inits):
    res = wide[name]
    ini = inits[name]
    from eoctheory.theory.correlation import correlation_map

    # on the EoC at q*: rho^{l+1} = R(rho^l) (eq. 6)
    r = 0.5
    for l in range(res.depth):
        assert res.rho_theory[l] == pytest.approx(r, abs=1e-9)
        r = float(correlation_map(ini.activation, r, ini.sigma_w2, ini.sigma_b2, 1.0))
    # 4 seeds x 4 pairs; the measured spread of rho^l over seeds is <= 0.03 here, so 0.03
    # is > 5 standard errors of the mean; rho approaches 1 with depth (chi_1 = 1).
    np.testing.assert_allclose(res.rho_mean, res.rho_theory, atol=0.03)


@pytest.mark.parametrize("name", ["relu", "crelu"])
def test_cnn_obeys_the_same_variance_map(name, inits):
    # 256 channels, kernel 3, 8 positions; every position has ||x(a)||^2/C = q*, so each
    # position follows V (large-channel limit, Sec. 2 / eq. 4-6).
    res = simulate(inits[name], width=256, depth=8, seeds=3, batch=4, kernel_size=3,
                   positions=8, gradients=False, seed=2)
    # same 4-sigma bound as for the DNN with N = 256 output channels (relative sd of q^l
    # from one layer ~ sqrt(2/256) = 0.09; positions are correlated, so not divided by 8).
    ini = inits[name]
    layers = np.arange(1, res.depth + 1)
    vp2 = min(ini.variance_slope ** 2, 1 - 1e-9)
    sd = np.sqrt(2 / 256) * np.sqrt(np.minimum(layers, 1 / (1 - vp2))) / np.sqrt(res.seeds)
    assert np.all(np.abs(res.q_mean - res.q_theory) < 4 * sd)
    # sparsity given the measured q^l: 256 channels are the independent units (each has one
    # bias for all positions); sd ~ 0.24 / sqrt(256 x 3) = 0.0087, 0.035 is 4 sd.
    s_at_q = eoc.sparsity(ini.activation, res.q)
    np.testing.assert_allclose(res.sparsity_mean, s_at_q.mean(axis=0), atol=0.035)
    np.testing.assert_allclose(res.rho_mean, res.rho_theory, atol=0.04)


def test_off_eoc_trajectory_follows_iterated_map():
    # ordered phase, q^l converges to a fixed point below q_in; the theory must iterate V.
    ini = eoc_init("crelu", tau=0.3, m=1.0, sigma_w2=1.5, sigma_b2=0.05)
    res = simulate(ini, width=800, depth=8, seeds=3, batch=4, gradients=False,
                   first_layer="standard", q_input=2.0)
    q = [1.5 * 2.0 + 0.05]
    for _ in range(7):
        q.append(float(eoc.variance_map(ini.activation, q[-1], 1.5, 0.05)))
    np.testing.assert_allclose(res.q_theory, q, rtol=1e-12)
    np.testing.assert_allclose(res.q_mean, q, rtol=0.05)  # seed spread ~1%, 5 se + bias


def test_gradient_norms_follow_chi1(inits):
    # random output gradient g ~ N(0, I): E||delta^l||^2 = chi_1(q^l) E||delta^{l+1}||^2
    # (App. A). Clipped activation, V'(q*) = 0.7: q^l stays at q*, chi_1 = 1, so the RMS
    # norm stays flat up to finite-width corrections O(depth/width) = 8/1000.
    res = simulate(inits["crelu"], width=1000, depth=8, seeds=4, batch=4, seed=3)
    np.testing.assert_allclose(res.grad_h_norm_rms, res.grad_h_theory, rtol=0.1)
    ini = eoc_init("tanh", sigma_w2=1.2, sigma_b2=0.05)  # ordered: chi_1 < 1, vanishing
    res = simulate(ini, width=1000, depth=8, seeds=4, batch=4, seed=3)
    assert res.grad_h_norm_rms[0] < 0.8 * res.grad_h_norm_rms[-1]
    np.testing.assert_allclose(res.grad_h_norm_rms, res.grad_h_theory, rtol=0.1)


def test_law_sampler_matches_weights(inits):
    # "law" is exact in distribution; compare mean q at layer 20 and the sparsity over seeds
    # (width 100: seed sd of q^20 ~ 0.15 for CST with V' = 0.7; 5 se of the difference).
    ini = inits["cst"]
    a = variance_trajectories(ini, 100, 20, 400, method="law", batch=2, seed=1)
    b = variance_trajectories(ini, 100, 20, 60, method="weights", batch=2, seed=2)
    se = np.sqrt(a.q[:, -1].var() / 400 + b.q[:, -1].var() / 60)
    assert abs(a.q[:, -1].mean() - b.q[:, -1].mean()) < 5 * se
    assert abs(a.sparsity.mean() - b.sparsity.mean()) < 0.01


# --- the paper's effect (Sec. 3.1, Figure 4): unclipped sparse activations diverge ----------
def test_relu_tau_diverges_where_crelu_stays_at_q_star(inits):
    # width 300, depth 100, s = 0.7, q* = 1; CReLU with V'(q*) = 0.7. Former failure: q^l
    # leaves [q*/4, 4q*] (or overflows); the predictor's: s(q^l) or chi_1(q^l) drifts.
    # Measured (seed 0, 20 seeds, 8 inputs, float32 weights): ReLU_tau 18/20 fail both ways,
    # CReLU 0/20; max q^100 of CReLU ~ 1.35.
    relu = variance_trajectories(inits["relu"], 300, 100, 20, method="weights", batch=8,
                                 dtype=np.float32, seed=0)
    crelu = variance_trajectories(inits["crelu"], 300, 100, 20, method="weights", batch=8,
                                  dtype=np.float32, seed=0)
    f_relu = band_escape(relu.q, np.ones(100)) > 0
    f_crelu = band_escape(crelu.q, np.ones(100)) > 0
    assert f_relu.mean() >= 0.6
    assert not f_crelu.any()
    assert np.all(np.abs(np.log(crelu.q)) < np.log(2))
    assert failures(inits["relu"], relu.q).drift.mean() >= 0.6
    assert not failures(inits["crelu"], crelu.q).failed.any()


def test_paper_effect_many_seeds_exact_sampler(inits):
    # 200 seeds with the exact-in-law sampler (O(N) per layer). Measured (seed 5), band
    # escape: ReLU_tau 0.79, ST_tau 0.975 fail, CReLU and CST 0.0; drift (the predictor's
    # failure): ReLU_tau 0.785, ST_tau 0.99, CReLU 0.0, CST 0.04. Binomial sd <= 0.035, so
    # the bounds 0.55 / 0.8 sit > 5 sd below, 0.15 > 5 sd above.
    frac, drift = {}, {}
    for name in ("relu", "st", "crelu", "cst"):
        tr = variance_trajectories(inits[name], 300, 100, 200, method="law", batch=8, seed=5)
        frac[name] = float(np.mean(band_escape(tr.q, np.ones(100)) > 0))
        drift[name] = float(np.mean(failures(inits[name], tr.q).drift))
    print("failed fractions (law sampler, 200 seeds):", frac, "drift:", drift)
    assert frac["relu"] > 0.55 and frac["st"] > 0.8
    assert frac["crelu"] == 0.0 and frac["cst"] == 0.0
    assert drift["relu"] > 0.55 and drift["st"] > 0.8
    assert drift["crelu"] == 0.0 and drift["cst"] < 0.15


def test_failures_speak_the_predictors_language():
    """Drift from the theory maps at the measured q^l; the gradient ratio both ways;
    overflow; the former band escape stays available (and the former call, deprecated)."""
    from eoctheory.theory import finite_width as fw

    ini = eoc_init("relu", sparsity=0.7)
    tau = ini.tau
    # s(q) = Phi(tau/sqrt(q)): q = 0.3 has s ~ 0.83 (> 0.7 + 0.1): drift at layer 3
    assert float(eoc.sparsity("relu", 0.3, tau=tau)) - 0.7 > fw.SPARSITY_DRIFT
    q = np.array([[1.0, 1.1, 0.3, 1.0],      # drift at layer 3
                  [1.0, 1.0, 1.0, 1.0],      # explodes (ratio 1e4)
                  [1.0, 1.0, 1.0, 1.0],      # vanishes (ratio 1e-4)
                  [1.0, 1.0, np.inf, np.nan],  # overflow at layer 3
                  [1.0, 1.05, 0.95, 1.0]])   # fine
    gh = np.ones_like(q)
    gh[1, 0], gh[2, 0] = 1e4, 1e-4
    f = failures(ini, q, gh)
    assert f.drift.tolist() == [True, False, False, False, False]
    assert f.exploded.tolist() == [False, True, False, False, False]
    assert f.vanished.tolist() == [False, False, True, False, False]
    assert f.overflow.tolist() == [False, False, False, True, False]
    assert f.failed.tolist() == [True, True, True, True, False]
    assert f.first_drift.tolist() == [3, 0, 0, 3, 0]
    assert f.first_failure.tolist() == [3, 4, 4, 3, 0]
    np.testing.assert_allclose(f.gradient_ratio[:3], [1.0, 1e4, 1e-4])
    # without gradients nothing explodes; a looser limit lets the ratios pass
    assert not failures(ini, q).exploded.any()
    loose = failures(ini, q, gh, grad_limit=1e5)
    assert not (loose.exploded | loose.vanished).any()
    # homogeneous activations never drift: q is only a scale for them
    assert not failures(eoc_init("plain_relu"), np.array([[1.0, 1e3, 1e-3]])).failed.any()
    # the former call still works, with a warning
    with pytest.warns(DeprecationWarning):
        old = failures(q[:, :2] * [[1, 5]], np.ones(2))
    assert old.tolist() == band_escape(q[:, :2] * [[1, 5]], np.ones(2)).tolist() == [2] * 5


def test_simulate_reports_each_failure(inits):
    res = simulate(inits["relu"], width=100, depth=60, seeds=6, batch=2, seed=4)
    c = res.counts
    assert c["failed"] == int(np.sum(res.drift | res.exploded | res.vanished | res.overflow))
    assert c["failed"] > 0 and c["drift"] > 0
    np.testing.assert_allclose(res.gradient_ratio, res.grad_h_norm[:, 0] / res.grad_h_norm[:, -1])
    assert np.array_equal(res.exploded, res.gradient_ratio > 1e3)
    assert np.array_equal(res.escaped, res.first_escape > 0)
    assert res.config["grad_limit"] == 1e3 and res.config["sparsity_drift"] == 0.1
    d = res.to_dict()
    for key in ("drift", "exploded", "vanished", "overflow", "escaped", "counts"):
        assert key in d


def test_theory_trajectory_handles_divergence():
    ini = eoc_init("identity", sigma_w2=2.0, sigma_b2=0.0)  # V(q) = 2q
    th = theory_trajectory(ini, 700, 1.0)
    assert th["q"][1] == pytest.approx(2.0)
    assert np.isnan(th["q"][-1])


# --- command line -----------------------------------------------------------------------
def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "eoctheory", "simulate", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_json():
    r = _cli("crelu", "--sparsity", "0.7", "--target-slope", "0.7", "--width", "64",
             "--depth", "6", "--seeds", "3", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("q_theory", "q_mean", "sparsity_theory", "sparsity_mean", "failed_fraction",
                "seeds", "rho_theory", "rho_mean", "grad_h_norm_rms"):
        assert key in d
    assert d["seeds"] == 3 and len(d["q_mean"]) == 6 and len(d["sparsity_theory"]) == 6
    assert d["failed_fraction"] == 0.0
    assert d["counts"] == {"failed": 0, "drift": 0, "exploded": 0, "vanished": 0,
                           "overflow": 0, "escaped": 0}
    assert d["config"]["variance_slope"] == pytest.approx(0.7)


def test_cli_table_cnn_and_plot(tmp_path):
    out = tmp_path / "sim.png"
    r = _cli("relu", "--sparsity", "0.6", "--cnn", "--channels", "32", "--kernel", "3",
             "--positions", "6", "--depth", "5", "--seeds", "2", "--plot", str(out))
    assert r.returncode == 0, r.stderr
    assert "q theory" in r.stdout and "failed: " in r.stdout and "CNN" in r.stdout
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("args,word", [
    (("relu", "--sparsity", "1.5"), "sparsity"),
    (("relu", "--width", "0"), "width"),
    (("relu", "--cnn", "--kernel", "4"), "kernel"),
    (("nosuch",), "unknown activation"),
    (("crelu", "--m", "1", "--target-slope", "0.7"), "not allowed"),
])
def test_cli_bad_input_exits_2(args, word):
    extra = [] if "--width" in args else ["--width", "64"]
    r = _cli(*args, "--depth", "2", "--seeds", "1", *extra)
    assert r.returncode == 2
    assert word in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
