"""Residual MLP theory: closed-form identities, finite differences, the tau schedule, the
verdict and bad input. Monte Carlo against the reference network is in
tests/nets/test_resnet.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from eoctheory.engine import maps
from eoctheory.theory import resnet as rn
from eoctheory.theory.correlation import correlation_map


# --- identities ---------------------------------------------------------------------------
@pytest.mark.parametrize("branch", rn.BRANCHES)
def test_alpha_zero_is_the_identity(branch):
    tr = rn.residual_trajectory("crelu", depth=7, sparsity=0.8, target_slope=0.7, alpha=0.0,
                                branch=branch, rho_input=0.3)
    assert np.all(tr.q == 1.0) and np.all(tr.rho == 0.3) and np.all(tr.gradient_ratio == 1.0)
    q = np.array([0.3, 2.0])
    assert np.array_equal(rn.residual_variance_map("tanh", q, 1.2, 0.1, alpha=0.0,
                                                   branch=branch), q)


@pytest.mark.parametrize("sw2,sb2,alpha", [(1.5, 0.2, 0.3), (1.0, 0.0, 1.0), (0.7, 1.3, 0.05)])
def test_linear_activation_closed_form(sw2, sb2, alpha):
    # identity phi: q^{l+1} = q^l (1 + a^2 sw2) + a^2 sb2, so q^l = (q0 + c) k^l - c with
    # c = sb2/sw2, k = 1 + a^2 sw2; covariances obey the same recursion (Sigma_ab instead of
    # q); chi_b = sw2 so the squared gradient ratio is k^(L-l). Round-off tolerance.
    L, q0, r0 = 12, 1.7, 0.4
    tr = rn.residual_trajectory("identity", depth=L, alpha=alpha, q_star=q0, sigma_w2=sw2,
                                sigma_b2=sb2, rho_input=r0)
    k, c, ll = 1 + alpha**2 * sw2, sb2 / sw2, np.arange(L + 1)
    q = (q0 + c) * k**ll - c
    cov = (q0 * r0 + c) * k**ll - c
    np.testing.assert_allclose(tr.q, q, rtol=1e-12)
    np.testing.assert_allclose(tr.rho, cov / q, rtol=1e-9)
    np.testing.assert_allclose(tr.gradient_ratio, k ** ((L - ll) / 2), rtol=1e-12)


def test_two_layer_linear_closed_form():
    # B(q) = sw2 (sw2 q + sb2) + sb2 for phi = identity
    sw2, sb2, a = 1.3, 0.4, 0.6
    tr = rn.residual_trajectory("identity", depth=5, alpha=a, branch="two", sigma_w2=sw2,
                                sigma_b2=sb2)
    q = [1.0]
    for _ in range(5):
        q.append(q[-1] + a * a * (sw2 * (sw2 * q[-1] + sb2) + sb2))
    np.testing.assert_allclose(tr.q, q, rtol=1e-12)
    np.testing.assert_allclose(tr.inner_q, sw2 * np.array(q[:-1]) + sb2, rtol=1e-12)
    np.testing.assert_allclose(tr.branch_chi, sw2 * sw2, rtol=1e-12)


def test_eoc_branch_gradient_ratio():
    # plain ReLU on the EoC: chi_b = 1 at every q, ratio^2 = (1 + a^2)^L (two layers too)
    for branch in rn.BRANCHES:
        tr = rn.residual_trajectory("plain_relu", depth=40, alpha=0.2, branch=branch)
        assert tr.gradient_ratio[0] == pytest.approx(1.04 ** 20, rel=1e-12)


@pytest.mark.parametrize("branch", rn.BRANCHES)
def test_variance_slope_is_derivative(branch):
    # central differences, step 1e-5 relative: truncation ~1e-10, round-off ~1e-11
    q = np.array([0.4, 1.0, 3.0])
    kw = dict(alpha=0.7, branch=branch, tau=0.6, m=1.1)
    h = 1e-5 * q
    fd = (rn.residual_variance_map("crelu", q + h, 2.5, 0.1, **kw)
          - rn.residual_variance_map("crelu", q - h, 2.5, 0.1, **kw)) / (2 * h)
    np.testing.assert_allclose(rn.residual_variance_slope("crelu", q, 2.5, 0.1, **kw), fd,
                               rtol=1e-7)


def test_correlation_map_matches_plain_map_and_fixes_one():
    # one block = (q rho + a^2 q R_q(rho)) / (q + a^2 V(q)): the plain map, independently
    q, a, sw2, sb2 = 1.6, 0.8, 2.2, 0.05
    r = np.array([-0.5, 0.0, 0.6])
    plain = correlation_map("st", r, sw2, sb2, q_star=q, tau=0.4)
    v = float(maps.variance_map("st", q, sw2, sb2, tau=0.4))
    want = (q * r + a * a * q * plain) / (q + a * a * v)
    got = rn.residual_correlation_map("st", r, q, sw2, sb2, alpha=a, tau=0.4)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert float(rn.residual_correlation_map("st", 1.0, q, sw2, sb2, alpha=a, branch="two",
                                             tau=0.4)) == pytest.approx(1.0, abs=1e-9)


# --- the tau schedule ---------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(alpha=hst.floats(0.0, 1.0), s=hst.floats(0.55, 0.95),  # ReLU_tau, CReLU: s >= 1/2
       name=hst.sampled_from(["relu", "st", "crelu", "cst"]),
       branch=hst.sampled_from(rn.BRANCHES))
def test_tau_following_keeps_sparsity_and_chi(alpha, s, name, branch):
    # phi(cx; c tau, c m) = c phi(x; tau, m): sparsity and chi_b exactly at the design
    kw = {"target_slope": 0.7} if name in ("crelu", "cst") else {}
    tr = rn.residual_trajectory(name, depth=8, sparsity=s, alpha=alpha, branch=branch, **kw)
    np.testing.assert_allclose(tr.sparsity, s, atol=1e-9)
    if branch == "two":
        np.testing.assert_allclose(tr.inner_sparsity, s, atol=1e-9)
    np.testing.assert_allclose(tr.branch_chi, tr.branch_chi[0], rtol=1e-8)
    assert np.all(np.diff(tr.q) >= 0)


@pytest.mark.parametrize("name,limit", [("relu", 0.5), ("st", 0.0), ("crelu", 0.5),
                                        ("cst", 0.0)])
def test_fixed_tau_drifts(name, limit):
    # tau/sqrt(q^l) -> 0: ReLU_tau and CReLU drift down to 1/2, ST and CST to 0
    kw = {"target_slope": 0.7} if name in ("crelu", "cst") else {}
    tr = rn.residual_trajectory(name, depth=60, sparsity=0.85, alpha=1.0, tau_follows_q=False,
                                **kw)
    d = np.diff(tr.sparsity)
    assert d[0] < 0 and np.all(d <= 1e-15)   # decreasing, until it sits at the limit
    assert tr.sparsity[-1] - limit < 0.12
    assert tr.sparsity[-1] >= limit - 1e-12


def test_block_parameters_scale_only_tau_and_m():
    p = rn.block_parameters({"tau": 0.5, "m": 2.0, "k": 3.0}, np.array([1.0, 4.0]), 1.0, True)
    np.testing.assert_allclose(p["tau"], [0.5, 1.0])
    assert p["k"] == 3.0
    assert rn.block_parameters({"tau": 0.5}, 9.0, 1.0, False) == {"tau": 0.5}


# --- the finite-width predictor and the verdict ------------------------------------------
def test_predict_alpha_zero_has_no_risk():
    p = rn.predict_resnet("crelu", width=200, depth=10, sparsity=0.85, target_slope=0.7,
                          alpha=0.0)
    # the only randomness is q^0 = chi^2_N/N (first layer): P(|s(q^0) - 0.85| > 0.1) ~ 1e-10
    assert p.risk < 1e-8 and abs(p.log_ratio_mean) < 1e-12


def test_predict_gradient_matches_infinite_width_at_large_width():
    # N = 5000: the log-ratio mean is the infinite-width one up to O(1/N) (0.5 % here)
    p = rn.predict_resnet("cst", width=5000, depth=20, sparsity=0.7, target_slope=0.7,
                          alpha=0.3)
    want = math.log(p.trajectory.gradient_ratio[0])
    assert p.log_ratio_mean == pytest.approx(want, rel=0.02)
    assert p.log_ratio_std < 0.05 and p.risk < 1e-6


def test_assess_verdicts_and_json():
    ok = rn.assess_resnet("crelu", sparsity=0.85, target_slope=0.7, depth=100, width=300)
    assert ok.verdict == "stable" and ok.risk < 0.05 and len(ok.q) == 101
    bad = rn.assess_resnet("relu", sparsity=0.85, depth=100, width=300, tau_follows_q=False)
    assert bad.verdict == "unstable" and bad.drift_probability > 0.5
    expl = rn.assess_resnet("plain_relu", depth=100, alpha=1.0)
    assert expl.verdict == "unstable" and expl.explosion_probability == 1.0
    assert any("lower alpha" in r for r in expl.reasons)
    json.dumps(ok.to_dict())
    assert set(ok.to_dict()) == set(rn.ResNetAssessment.__dataclass_fields__)


def test_overflow_is_a_verdict_not_a_crash():
    with pytest.raises(rn.VarianceOverflowError, match="exceeds 1e100"):
        rn.residual_trajectory("relu", depth=400, sparsity=0.5, alpha=1.0)
    a = rn.assess_resnet("relu", depth=400, sparsity=0.5, alpha=1.0)
    assert a.verdict == "unstable" and "exceeds 1e100" in a.reasons[-1]


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    ({"alpha": -1.0}, "alpha"), ({"alpha": "x"}, "alpha"), ({"alpha": math.inf}, "alpha"),
    ({"branch": "three"}, "branch"), ({"depth": 0}, "depth"),
    ({"tau_follows_q": "yes"}, "tau_follows_q"), ({"rho_input": 2.0}, "rho_input"),
    ({"q_input": -1.0}, "q_input"), ({"sparsity": 1.5}, "sparsity"),
])
def test_bad_input(kw, match):
    args = {"depth": 5, "sparsity": 0.5, **kw}
    with pytest.raises(ValueError, match=match):
        rn.residual_trajectory("relu", **args)


@pytest.mark.parametrize("kw,match", [({"risk": 1.5}, "risk"), ({"width": 1}, "width"),
                                      ({"grad_limit": 0}, "grad_limit")])
def test_bad_assess_input(kw, match):
    with pytest.raises(ValueError, match=match):
        rn.assess_resnet("relu", depth=5, sparsity=0.5, **kw)


def test_bad_map_and_alive_input():
    with pytest.raises(ValueError, match="rho"):
        rn.residual_correlation_map("relu", 1.5, 1.0, 2.0, 0.0, tau=0.0)
    with pytest.raises(ValueError, match="sigma_w2"):
        rn.residual_variance_map("relu", 1.0, -2.0, 0.0, tau=0.0)
    tr = rn.residual_trajectory("relu", depth=3, sparsity=0.5)
    with pytest.raises(ValueError, match="shape"):
        rn.alive_at(tr, np.ones((2, 4)))
