"""EoC, m for a target slope, fixed points, bifurcations, correlation map, `check` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from registry import tau_for
from scipy.special import ndtr

import eoctheory as eoc
from eoctheory.theory import correlation as C
from eoctheory.theory import eoc as E
from eoctheory.theory import stability as S


@pytest.mark.parametrize("name", ["relu", "st", "crelu", "cst"])
@pytest.mark.parametrize("s", [0.3, 0.6, 0.85, 0.99])
@pytest.mark.parametrize("q_star", [1e-3, 1.0, 50.0])
def test_tau_from_sparsity_closed_forms(name, s, q_star):
    if name in ("relu", "crelu") and s < 0.5:
        with pytest.raises(ValueError, match="sparsity must be >= 0.5"):
            E.tau_from_sparsity(name, s, q_star)
        return
    tau = E.tau_from_sparsity(name, s, q_star)
    np.testing.assert_allclose(tau, tau_for(name, s, q_star), rtol=1e-12, atol=1e-15)


def test_tau_by_root_for_user_activation():
    """A user family SymPy cannot invert in closed form still gets a verified root."""
    act = eoc.Activation.from_string("Piecewise((0, x <= tau), (x - tau, x < 2*tau + 1), "
                                     "(tau + 1, True))", params={"tau": 0.1}, name="odd")
    tau = float(E.tau_from_sparsity(act, 0.8, 2.0))
    np.testing.assert_allclose(tau, np.sqrt(2.0) * 0.8416212335729143, rtol=1e-12)


@pytest.mark.parametrize("s", [0.5, 0.7, 0.9])
@pytest.mark.parametrize("q_star", [0.5, 1.0, 4.0])
def test_eoc_relu_st_closed_forms(s, q_star):
    """THEORY §3: sigma_w^2 = 1/(1-s) on the EoC for ReLU_tau and for ST_tau at the same
    sparsity (for the same tau ST_tau needs half, see test_eoc_curve_relu_vs_st); V'(q*) = 1."""
    for name, factor in (("relu", 1.0), ("st", 1.0)):
        tau = E.tau_from_sparsity(name, s, q_star)
        p = E.eoc_point(name, q_star, tau=tau)
        np.testing.assert_allclose(p.sigma_w2, factor / (1 - s), rtol=1e-12)
        np.testing.assert_allclose(eoc.chi1(name, q_star, p.sigma_w2, tau=tau), 1, rtol=1e-13)
        np.testing.assert_allclose(eoc.variance_map(name, q_star, p.sigma_w2, p.sigma_b2,
                                                    tau=tau), q_star, rtol=1e-13)
        np.testing.assert_allclose(p.V_prime, 1.0, rtol=1e-12)


@pytest.mark.parametrize("name", ["crelu", "cst"])
def test_m_for_slope_table(name):
    S_ = np.array([0.5, 0.6, 0.7, 0.8, 0.85, 0.9])[:, None]
    T = np.array([0.5, 0.7, 0.9])[None, :]
    sol = E.m_for_slope(name, T, sparsity=S_, q_star=2.0)
    assert sol.m.shape == (6, 3)
    np.testing.assert_allclose(sol.V_prime, np.broadcast_to(T, (6, 3)), atol=1e-12)
    np.testing.assert_allclose(eoc.chi1(name, 2.0, sol.sigma_w2, tau=sol.tau, m=sol.m), 1,
                               rtol=1e-12)
    np.testing.assert_allclose(sol.sparsity, np.broadcast_to(S_, (6, 3)), rtol=1e-12)
    assert np.all(sol.V_prime < 1)  # clipped activations: q* is locally stable (eq. 17)
    # independent check of V''(q*) by finite differences of V around q*
    i, j = 4, 2
    kw = dict(tau=sol.tau[i, j], m=sol.m[i, j])
    V = lambda q: float(eoc.variance_map(name, q, sol.sigma_w2[i, j], sol.sigma_b2[i, j], **kw))  # noqa: E731
    h = 1e-4
    fd2 = (V(2 + h) - 2 * V(2) + V(2 - h)) / h**2
    np.testing.assert_allclose(sol.V_second[i, j], fd2, rtol=1e-5)  # FD error ~ eps/h^2 ~ 1e-8


def test_m_for_slope_errors():
    with pytest.raises(ValueError, match=r"not attainable .* ranges over"):
        E.m_for_slope("crelu", 1.2, sparsity=0.8)
    with pytest.raises(ValueError, match="no clipping parameter m"):
        E.m_for_slope("relu", 0.5, sparsity=0.8)
    with pytest.raises(ValueError, match=r"sparsity must be in \(0, 1\)"):
        E.m_for_slope("crelu", 0.5, sparsity=1.0)


def test_no_eoc_point():
    """Off-centre user activation: phi(0) != 0 makes E[phi^2] > q*/chi-scaling -> sb2 < 0."""
    act = eoc.Activation.from_string("Piecewise((1, x < 0), (1 + x, True))", name="shifted")
    with pytest.raises(ValueError, match=r"no Edge-of-Chaos point .* sigma_b2 = .* < 0"):
        E.eoc_point(act, 0.1)
    with pytest.raises(ValueError, match="chi_1 = 1 is unreachable"):
        E.eoc_point(eoc.Activation.from_string("Piecewise((0, x < 5), (x - 5, True))"), 1e-4)


def test_eoc_curve_relu_vs_st():
    q = np.geomspace(0.1, 10, 20)
    b1, w1, q1 = E.eoc_curve("relu", q, tau=0.5)
    b2, w2, q2 = E.eoc_curve("st", q, tau=0.5)
    np.testing.assert_allclose(q1, q2)
    np.testing.assert_allclose(w1, 2 * w2, rtol=1e-13)  # THEORY §3 / Figure 8
    np.testing.assert_allclose(b1, b2, rtol=1e-12, atol=1e-15)


def _cst_085(target):
    sol = E.m_for_slope("cst", target, sparsity=0.85)
    return sol, dict(tau=float(sol.tau), m=float(sol.m))


def test_cst_fixed_points_figure4():
    """THEORY §3 / Figure 4: one fixed point for small m, three at V'(q*) = 0.9."""
    for target, n in ((0.5, 1), (0.7, 1), (0.9, 3)):
        sol, kw = _cst_085(target)
        fps = S.fixed_points("cst", float(sol.sigma_w2), float(sol.sigma_b2), dps=30, **kw)
        assert len(fps) == n
        assert abs(fps[0].q - 1.0) < 1e-13 and fps[0].kind == "stable"
        for f in fps:
            assert f.residual < 1e-25 and f.digits > 25  # verified at 30 digits, 2 precisions
    kinds = [f.kind for f in fps]
    assert kinds == ["stable", "unstable", "stable"]
    assert 1.0 < fps[1].q < fps[2].q


def test_fixed_point_independent_check():
    """The mpmath root is a fixed point of the *oracle* map too (independent route)."""
    sol, kw = _cst_085(0.9)
    fps = S.fixed_points("cst", float(sol.sigma_w2), float(sol.sigma_b2), **kw)
    for f in fps:
        v = eoc.precise.variance_map("cst", mpmath.mpf(f.q_mp), float(sol.sigma_w2),
                                     float(sol.sigma_b2), dps=25, **kw)
        assert abs(float(v) - float(mpmath.mpf(f.q_mp))) < 1e-18


def test_relu_tau_semistable():
    tau = float(E.tau_from_sparsity("relu", 0.7))
    p = E.eoc_point("relu", tau=tau)
    fps = S.fixed_points("relu", float(p.sigma_w2), float(p.sigma_b2), tau=tau)
    assert [f.kind for f in fps] == ["semi-stable"]
    assert abs(fps[0].q - 1) < 1e-7 and fps[0].V_second > 0


def test_close_pair_not_missed():
    """Two fixed points 1e-3 apart (a near-tangent map) are both found and verified."""
    user = eoc.Activation.from_string("Piecewise((0, x < 0), (x**2, True))", name="sq")
    # E[phi^2] = 3 q^2 / 2; V(q) = q has roots where 1.5 sw2 q^2 - q + sb2 = 0
    sw2, r1 = 1.0, 0.6660  # roots: sum 1/(1.5 sw2), product sb2/(1.5 sw2)
    r2 = 1 / 1.5 - r1  # 0.66733...: 1.3e-3 from r1
    sb2 = 1.5 * sw2 * r1 * r2
    fps = S.fixed_points(user, sw2, sb2, q_max=10.0)
    qs = sorted(f.q for f in fps)
    np.testing.assert_allclose(qs, sorted([r1, r2]), rtol=1e-12)


def test_saddle_node_cst():
    lo = float(_cst_085(0.7)[0].m)
    hi = float(_cst_085(0.9)[0].m)
    b = S.saddle_node("cst", "m", bracket=(lo, hi), sparsity=0.85)
    assert lo < b.value < hi and b.digits > 25 and b.residual < 1e-25
    # independent check: V(q) = q and V'(q) = 1 at (q_c, m_c) with the oracle map
    kw = dict(tau=b.params["tau"], m=b.value)
    v = eoc.precise.variance_map("cst", b.q, b.sigma_w2, b.sigma_b2, dps=20, **kw)
    vp = eoc.precise.variance_slope("cst", b.q, b.sigma_w2, dps=20, **kw)
    assert abs(float(v) - b.q) < 1e-9 and abs(float(vp) - 1) < 1e-6
    # just above m_c there are three fixed points, just below one
    for m, n in ((b.value * (1 - 1e-3), 1), (b.value * (1 + 1e-3), 3)):
        p = E.eoc_point("cst", tau=kw["tau"], m=m)
        assert len(S.fixed_points("cst", float(p.sigma_w2), float(p.sigma_b2), verify=False,
                                  tau=kw["tau"], m=m)) == n


def test_verdicts():
    tau = float(E.tau_from_sparsity("relu", 0.7))
    assert S.assess("relu", tau=tau).verdict == "unstable"
    _, kw = _cst_085(0.7)
    rep = S.assess("cst", **kw)
    assert rep.verdict == "stable" and rep.tangent_width < 0.5
    _, kw = _cst_085(0.9)
    rep = S.assess("cst", **kw)
    assert rep.verdict == "unstable" and any("fixed point" in r for r in rep.reasons)


# --- correlation map -----------------------------------------------------------------------

@pytest.mark.parametrize("name,params", [("relu", {"tau": 0.5}), ("crelu", {"tau": 0.5, "m": 1.0}),
                                         ("cst", {"tau": 0.3, "m": 0.8}), ("tanh", {})])
def test_correlation_map(name, params):
    p = E.eoc_point(name, 1.5, **params)
    sw2, sb2 = float(p.sigma_w2), float(p.sigma_b2)
    if name in ("relu", "crelu"):  # the nested mpmath oracle is slow: two activations
        val = C.correlation_map(name, -0.6, sw2, sb2, 1.5, **params)
        ref = C.precise_correlation_map(name, -0.6, sw2, sb2, 1.5, dps=10, **params)
        assert abs(float(val) - float(ref)) < 1e-8  # oracle at 10 digits
    np.testing.assert_allclose(C.correlation_map(name, 1.0, sw2, sb2, 1.5, **params), 1.0,
                               rtol=1e-13)  # R(1) = 1 on the EoC
    np.testing.assert_allclose(C.correlation_slope(name, 1.0, sw2, 1.5, **params),
                               eoc.chi1(name, 1.5, sw2, **params), rtol=1e-12)  # R'(1) = chi_1
    # R' against central differences of R at an interior point (h = 1e-4: error ~1e-8)
    h = 1e-4
    fd = (C.correlation_map(name, 0.5 + h, sw2, sb2, 1.5, **params)
          - C.correlation_map(name, 0.5 - h, sw2, sb2, 1.5, **params)) / (2 * h)
    np.testing.assert_allclose(C.correlation_slope(name, 0.5, sw2, 1.5, **params), fd, rtol=1e-7)


def test_correlation_fixed_point_phases():
    tau = 0.5
    e2 = float(eoc.second_moment("relu", 1.0, tau=tau))
    sw2_eoc = 1 / float(ndtr(-tau))
    assert C.correlation_fixed_point("relu", sw2_eoc, 1 - sw2_eoc * e2, tau=tau) == 1.0
    sw2 = 1.3 * sw2_eoc  # chaotic: chi_1 = 1.3, same q* = 1
    c = C.correlation_fixed_point("relu", sw2, 1 - sw2 * e2, tau=tau)
    assert c < 1
    np.testing.assert_allclose(C.correlation_map("relu", c, sw2, 1 - sw2 * e2, tau=tau), c,
                               rtol=1e-12)
    with pytest.raises(ValueError, match="not a fixed point"):
        C.correlation_fixed_point("relu", sw2, 0.0, tau=tau)


def test_jacobian_spectrum():
    """THEORY §4: for ReLU_tau on the EoC mu_2/mu_1^2 = 1/(1-s): variance L/(1-s)."""
    s = 0.7
    tau = float(E.tau_from_sparsity("relu", s))
    sw2 = float(E.eoc_point("relu", tau=tau).sigma_w2)
    mu1, mu2 = C.jacobian_moments("relu", sw2, tau=tau)
    np.testing.assert_allclose([mu1, mu2 / mu1**2], [1.0, 1 / (1 - s)], rtol=1e-12)
    np.testing.assert_allclose(C.spectral_variance("relu", 100, sw2, tau=tau), 100 / (1 - s),
                               rtol=1e-12)
    np.testing.assert_allclose(C.spectral_variance("relu", 100, sw2, weights="orthogonal",
                                                   tau=tau), 100 * s / (1 - s), rtol=1e-12)


# --- CLI -------------------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "eoctheory", "check", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_json():
    r = _cli("cst", "--sparsity", "0.85", "--target-slope", "0.9", "--json")
    assert r.returncode == 4, r.stderr  # verdict unstable: exit code 4 (EXIT_UNSTABLE)
    out = json.loads(r.stdout)
    for key in ("activation", "tau", "m", "sparsity", "q_star", "sigma_w2", "sigma_b2", "chi1",
                "variance_slope", "variance_curvature", "fixed_points", "verdict", "reasons"):
        assert key in out
    sol = E.m_for_slope("cst", 0.9, sparsity=0.85)
    np.testing.assert_allclose([out["m"], out["sigma_w2"], out["variance_slope"], out["chi1"]],
                               [float(sol.m), float(sol.sigma_w2), 0.9, 1.0], rtol=1e-10)
    assert [f["kind"] for f in out["fixed_points"]] == ["stable", "unstable", "stable"]
    assert out["verdict"] == "unstable"


def test_cli_human_and_custom():
    r = _cli("relu", "--sparsity", "0.7", "--q-star", "2")
    assert r.returncode == 4 and "verdict: UNSTABLE" in r.stdout and "sigma_w^2 = 3.33333" in r.stdout
    r = _cli("custom", "--expr", "Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))",
             "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["chi1"] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("args,msg", [
    (("crelu", "--sparsity", "1.5"), "sparsity must be in (0, 1)"),
    (("crelu", "--sparsity", "0.85", "--target-slope", "1.5"), "not attainable"),
    (("nope",), "unknown activation 'nope'"),
    (("custom",), "'custom' needs --expr"),
    (("custom", "--expr", "x +* 2"), "cannot parse"),
    (("tanh", "--sparsity", "0.5"), "has no threshold tau"),
    (("relu", "--q-star", "-1"), "q_star must be"),
    (("relu", "--bogus"), "unrecognized arguments"),
])
def test_cli_errors(args, msg):
    r = _cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("vary,bracket,fixed", [("tau", (0.5, 2.0), {"m": 1.5}),
                                                ("q_star", (0.5, 4.0), {"tau": 1.44, "m": 1.5})])
def test_saddle_node_other_families(vary, bracket, fixed):
    """Families in tau and in q*: verified at 30/45 digits and re-checked with the oracle."""
    b = S.saddle_node("cst", vary, bracket=bracket, **fixed)
    assert bracket[0] < b.value < bracket[1] and b.digits > 25
    q_star = b.value if vary == "q_star" else 1.0
    kw = {k: v for k, v in b.params.items()}
    p = E.eoc_point("cst", q_star, **kw)
    np.testing.assert_allclose([p.sigma_w2, p.sigma_b2], [b.sigma_w2, b.sigma_b2], rtol=1e-12)
    v = eoc.precise.variance_map("cst", b.q, b.sigma_w2, b.sigma_b2, dps=20, **kw)
    vp = eoc.precise.variance_slope("cst", b.q, b.sigma_w2, dps=20, **kw)
    # float64 rounding of (q_c, p_c) moves V - q by ~1e-16 and V' - 1 by ~1e-8 (tangency)
    assert abs(float(v) - b.q) < 1e-12 and abs(float(vp) - 1) < 1e-6


def test_cli_finite_width_grounds_the_verdict():
    """--width/--depth: the predictor's verdict decides (stable if the predicted risk <=
    --risk, marginal if <= 4 --risk, else unstable), the exit code follows it (0/3/4).
    ReLU_tau (s=0.7) at N=300, L=100 drifts in ~60% of networks (checked against simulation
    in tests/theory/test_finite_width.py)."""
    r = _cli("relu", "--sparsity", "0.7", "--width", "300", "--depth", "100", "--json")
    assert r.returncode == 4, r.stderr
    out = json.loads(r.stdout)
    assert 0.45 < out["predicted_risk"] < 0.8 and out["verdict"] == "unstable"
    assert set(out["gradient_ratio_quantiles"]) >= {"0.05", "0.5", "0.95"}
    r = _cli("crelu", "--sparsity", "0.7", "--target-slope", "0.7", "--width", "300",
             "--depth", "100", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["predicted_risk"] < 0.01 and out["verdict"] == "stable"
    # shallow ReLU_tau: infinite-width 'unstable', but at depth 5 nothing drifts: the
    # finite-width verdict decides, the infinite-width reasons follow
    r = _cli("relu", "--sparsity", "0.7", "--width", "1000", "--depth", "5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["predicted_risk"] < 0.05 and out["verdict"] == "stable"
    assert out["infinite_width_verdict"] == "unstable"
    assert any("infinite-width analysis says unstable" in x for x in out["reasons"])
    r = _cli("relu", "--width", "300")
    assert r.returncode == 2 and "--width and --depth go together" in r.stderr


# --- fixed points and verification over q* from 1e-4 to 1e4 (issue 11) ----------------------

def _fp_grid():
    out = []
    for name in ("relu", "st"):
        for s in np.round(np.arange(0.05, 0.951, 0.05), 2):
            if name == "relu" and s <= 0.5:  # s = 1/2 is tau = 0: V is the identity
                continue
            out.append((name, float(s)))
    return out


@pytest.mark.parametrize("q_star", [1e-4, 1.0, 1e4])
@pytest.mark.parametrize("name,s", _fp_grid())
def test_eoc_fixed_point_is_listed(name, s, q_star):
    """ReLU_tau and ST_tau on the EoC touch the identity at q* (V(q*) = q*, V'(q*) = 1):
    q* must be in the list, once, as semi-stable -- although the float64 parameters leave
    a gap of a few eps q* or a pair of roots ~1e-8 q* apart at random (it was missing in
    41 of 90 such points)."""
    tau = float(E.tau_from_sparsity(name, s, q_star))
    p = E.eoc_point(name, q_star, tau=tau)
    fps = S.fixed_points(name, float(p.sigma_w2), float(p.sigma_b2), tau=tau,
                         q_max=100 * q_star)
    at = [f for f in fps if abs(f.q - q_star) <= 1e-6 * q_star]
    assert len(at) == 1 and at[0].kind == "semi-stable", [(f.q, f.kind) for f in fps]
    assert abs(at[0].V_prime - 1) < 1e-9 and at[0].V_second > 0


def _catalogue_settings():
    out = []
    for name in eoc.list_activations():
        for q_star in (1e-4, 1e-2, 1e2, 1e4):
            out.append(pytest.param(name, q_star, marks=pytest.mark.slow)
                       if name in ("tanh", "erf", "gelu", "silu") else (name, q_star))
    return out


@pytest.mark.parametrize("name,q_star", _catalogue_settings())
def test_assess_over_q_star(name, q_star):
    """`check`'s path (tau from sparsity 0.7, m from V'(q*) = 0.7, then assess) at q* from
    1e-4 to 1e4 for every catalogue activation with an EoC point: no exception (CReLU/CST
    at q* <= 0.01 ended in a RuntimeError from the mpmath verification), and q* itself is a
    verified fixed point wherever V is not the identity near q*."""
    act = eoc.get_activation(name)
    kw = {}
    if "m" in act.param_names:
        sol = E.m_for_slope(name, 0.7, sparsity=0.7, q_star=q_star)
        kw = {"tau": float(sol.tau), "m": float(sol.m)}
    elif "tau" in act.param_names:
        kw = {"tau": float(E.tau_from_sparsity(name, 0.7, q_star))}
    try:
        E.eoc_point(name, q_star, **kw)
    except ValueError as e:
        assert "no Edge-of-Chaos point" in str(e) or "unreachable" in str(e)
        return
    rep = S.assess(name, q_star, **kw)
    assert rep.verdict in ("stable", "marginal", "unstable")
    np.testing.assert_allclose(rep.chi1, 1.0, rtol=1e-10)
    identity_like = name in ("plain_relu", "identity") or (name == "hardtanh" and q_star < 1)
    if not identity_like:  # V(q) = q for all q (to round-off) has no isolated fixed point
        at = [f for f in rep.fixed_points if abs(f.q - q_star) <= 1e-6 * q_star]
        assert len(at) == 1, rep.fixed_points
        # a crossing root: |V(q) - q| at 30 digits; a tangent one (ReLU_tau, ST_tau): the
        # gap the float64 parameters leave, a few eps q*
        tol = 1e-12 if at[0].kind == "semi-stable" else 1e-25
        assert at[0].residual <= tol * q_star, at[0]


@pytest.mark.parametrize("q_star", [1e-4, 1e-2, 1e2, 1e4])
@pytest.mark.parametrize("name", ["crelu", "cst"])
def test_cli_check_small_and_large_q_star(name, q_star):
    """The issue's command (`check crelu --sparsity 0.7 --q-star 1e-4`) exits 0 now
    (a stable verdict; 3 and 4 are the marginal and unstable ones)."""
    r = _cli(name, "--sparsity", "0.7", "--q-star", repr(q_star), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert any(abs(f["q"] - q_star) <= 1e-6 * q_star for f in out["fixed_points"])


def test_cli_check_huge_q_star_refused():
    """`check relu --sparsity 0.7 --q-star 1e300` printed V'' = 0 and exited 0: now an error
    naming q and the supported range (exit code 2, one line)."""
    r = _cli("relu", "--sparsity", "0.7", "--q-star", "1e300")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "must be a finite variance in [1e-100, 1e100]" in r.stderr


def test_clipped_narrow_window_v_prime():
    """`check crelu --tau 0 --m 0.01 --q-star 1e4`: V'(q*) was off by 2.1e-4 (window
    m/sqrt(q*) = 1e-4); now it agrees with the fixed point's mpmath value to 1e-10."""
    r = _cli("crelu", "--tau", "0", "--m", "0.01", "--q-star", "1e4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ref = eoc.precise.variance_slope("crelu", 1e4, out["sigma_w2"], dps=30, tau=0.0, m=0.01)
    assert abs(out["variance_slope"] - float(ref)) <= 1e-10 * float(ref)
