"""Piecewise activations with non-polynomial pieces: the quadrature split at the breakpoints.

Such activations (``m tanh((x - tau)/m)`` off a dead zone, a ramp continued by a log) have no
closed form and go through ``_Quadrature``; the rule must split the integral at the
Piecewise breakpoints evaluated at each row's parameters (a kink or a jump inside one
Gauss-Legendre span cost 1e-5 in E[phi^2] and 1e-2 in the sparsity).

References are independent of that rule: the mpmath oracle (``eoctheory.engine.precise``,
tanh-sinh / Gauss-Legendre at 20 digits), told the breakpoints written out by hand here
(its own ``breakpoints`` reads them only from piecewise-polynomial expressions, and without
them its quadrature across a kink is itself only good to ~1e-10), exact erf / ndtr formulas
for the sparsity, and the closed forms of the catalogue's ST for a dead zone written with a
quadratic condition.

Tolerance 1e-10 relative (the engine's accuracy target, THEORY.md; measured ~1e-13 here):
the oracle is good to ~1e-20 and the float64 rule to ~1e-13 at these points, where the
Hermite weights of V' and V'' cancel little (q >= 1e-2, a result not much below its
integrand).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.special import erf, ndtr

import eoctheory as eoc
from eoctheory.engine import precise
from eoctheory.engine.activations import X
from eoctheory.engine.maps import _condition_roots, compiled, gaussian_moment

DPS = 20
RTOL = 1e-10
SW2 = 1.7

TANHCLIP = ("Piecewise((0, Abs(x) < tau), (m*tanh((x - tau)/m), x >= tau), "
            "(m*tanh((x + tau)/m), True))")
RAMPLOG = ("Piecewise((0, x < tau), (x - tau, x < tau + m), "
           "(m + 0.1*log(1 + x - tau - m), True))")


def _tanhclip():
    return eoc.Activation.from_string(TANHCLIP, name="tanhclip")


def _ramplog():
    return eoc.Activation.from_string(RAMPLOG, name="ramplog")


# breakpoints by hand, for the oracle (x units)
BREAKS = {"tanhclip": lambda tau, m: sorted({-tau, tau}),
          "ramplog": lambda tau, m: [tau, tau + m],
          "tanhrelu": lambda tau, m: [tau]}

POINTS = {
    "tanhclip": [(1e-2, 0.05, 0.3), (1e-2, 0.2, 1.0), (1.0, 1.0364333894937898, 1.0),
                 (1.0, 0.3, 0.1), (1e2, 5.0, 2.0), (1e2, 12.0, 1.0)],
    "ramplog": [(1e-2, 0.1, 0.05), (1.0, 0.5, 1.0), (1.0, 0.0, 0.2), (1e2, 3.0, 4.0),
                (1e2, 15.0, 1.0)],
}
MAKE = {"tanhclip": _tanhclip, "ramplog": _ramplog}


@pytest.fixture
def oracle(monkeypatch):
    """The mpmath oracle, split at the hand-written breakpoints of the activation."""
    def bps(activation, **params):
        act = eoc.get_activation(activation)
        vals = {**act.values, **params}
        return BREAKS[act.name](vals["tau"], vals.get("m"))
    monkeypatch.setattr(precise, "breakpoints", bps)
    return precise


def _rel(got, ref):
    ref = float(ref)
    return abs(float(got) - ref) / abs(ref)


def test_readers_accept_both():
    a, b = _tanhclip(), _ramplog()
    assert a.param_names == ("tau", "m") and set(b.param_names) == {"tau", "m"}
    assert compiled(a).kind == compiled(b).kind == "quadrature"
    assert float(b(2.5, tau=0.5, m=1.0)) == pytest.approx(1.0 + 0.1 * np.log(2.0), abs=1e-15)


@pytest.mark.parametrize("name,q,tau,m", [(n, *p) for n in POINTS for p in POINTS[n]])
def test_moments_against_oracle(oracle, name, q, tau, m):
    act = MAKE[name]()
    pairs = {
        "E[phi^2]": (eoc.second_moment(act, q, tau=tau, m=m),
                     oracle.second_moment(act, q, DPS, tau=tau, m=m)),
        "V'": (eoc.variance_slope(act, q, SW2, tau=tau, m=m),
               oracle.variance_slope(act, q, SW2, DPS, tau=tau, m=m)),
        "V''": (eoc.variance_curvature(act, q, SW2, tau=tau, m=m),
                oracle.variance_curvature(act, q, SW2, DPS, tau=tau, m=m)),
        "chi_1": (eoc.chi1(act, q, SW2, tau=tau, m=m),
                  oracle.chi1(act, q, SW2, DPS, tau=tau, m=m)),
    }
    errs = {k: _rel(g, r) for k, (g, r) in pairs.items()}
    assert max(errs.values()) < RTOL, errs


@pytest.mark.parametrize("name,q,tau,m", [("tanhclip", 1.0, 0.7, 0.5), ("ramplog", 1e2, 3.0, 4.0),
                                          ("ramplog", 1e-2, 0.1, 0.05)])
def test_other_gaussian_moments(oracle, name, q, tau, m):
    act = MAKE[name]()
    s4 = eoc.slope_moment4(act, q, tau=tau, m=m)
    ref4 = oracle.expectation(act, lambda f, df, z: df**4, q, DPS, tau=tau, m=m)
    phi4 = gaussian_moment(act, "phi4", lambda f, df: f**4, q, tau=tau, m=m)
    ref_phi4 = oracle.expectation(act, lambda f, df, z: f**4, q, DPS, tau=tau, m=m)
    assert _rel(s4, ref4) < RTOL
    assert _rel(phi4, ref_phi4) < RTOL


def test_sparsity_exact():
    """P(phi = 0) = erf(tau/sqrt(2q)) (dead zone |x| < tau) and Phi(tau/sqrt q) (x < tau):
    Gaussian masses of the zero pieces, so at round-off (4 eps), not at a quadrature's
    accuracy."""
    q = np.logspace(-2, 2, 41)
    tau = np.linspace(0.0, 3.0, 41)
    for m in (0.1, 1.0, 5.0):
        got = eoc.sparsity(_tanhclip(), q, tau=tau, m=m)
        np.testing.assert_allclose(got, erf(tau / np.sqrt(2 * q)), rtol=4e-16, atol=4e-16)
        got = eoc.sparsity(_ramplog(), q, tau=tau, m=m)
        np.testing.assert_allclose(got, ndtr(tau / np.sqrt(q)), rtol=4e-16, atol=4e-16)
    tau0 = 1.0364333894937898
    assert abs(float(eoc.sparsity(_tanhclip(), 1.0, tau=tau0, m=1.0))
               - erf(tau0 / np.sqrt(2))) < 1e-15


def test_rows_broadcast_like_scalars():
    """Breakpoints move with each row's parameters: an array call equals scalar calls."""
    act = _tanhclip()
    q = np.array([[0.01], [1.0], [100.0]])
    tau = np.array([0.0, 0.4, 2.0, 7.0])
    got = eoc.variance_slope(act, q, SW2, tau=tau, m=0.6)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            ref = eoc.variance_slope(act, float(q[i, 0]), SW2, tau=float(tau[j]), m=0.6)
            assert abs(got[i, j] - ref) <= 1e-14 * abs(ref)


def test_resolve_setting_sparsity_and_slope(oracle):
    act = _tanhclip()
    st = eoc.resolve_setting(act, sparsity=0.7, target_slope=0.5)
    tau, m = st.activation.values["tau"], st.activation.values["m"]
    assert abs(erf(tau / np.sqrt(2 * st.q_star)) - 0.7) < 1e-12
    assert abs(float(eoc.variance_slope(st.activation, st.q_star, st.sigma_w2)) - 0.5) < 1e-9
    ref = oracle.variance_slope(act, st.q_star, st.sigma_w2, DPS, tau=tau, m=m)
    assert abs(float(ref) - 0.5) < 1e-9
    assert abs(float(oracle.chi1(act, st.q_star, st.sigma_w2, DPS, tau=tau, m=m)) - 1) < 1e-9


@pytest.mark.parametrize("text,name", [
    ("Piecewise((0, x**3 < tau**3), (x - tau, True))", "relu"),
    ("Piecewise((0, (x**2 - tau**2)*(x**2 + 1) < 0), (x - tau, x > 0), (x + tau, True))", "st"),
])
def test_polynomial_condition_matches_closed_form(text, name):
    """ReLU_tau and ST_tau written with conditions of degree 3 and 4 in x (not linear: no
    closed form, so the quadrature route, with breakpoints found per row as the real
    eigenvalues of a companion matrix) against the catalogue's closed forms."""
    act = eoc.Activation.from_string(text, name=name + "_poly", params={"tau": 0.5})
    assert compiled(act).kind == "quadrature"
    # tau/sqrt(q) <= 6.7: further out the closed forms themselves cancel (ReLU_tau's
    # E[phi^2] is off by 4e-10 at tau/sqrt(q) = 15; the quadrature is not, 1e-14)
    q = np.array([0.05, 0.3, 1.0, 7.0, 100.0])
    for tau in (0.0, 0.2, 1.5):
        e2 = eoc.second_moment(name, q, tau=tau)
        # V' and V'' by Hermite weights cancel to ~eps E[phi^2] / q^k (zero for ReLU_0's V'')
        for f, floor in ((lambda a: eoc.second_moment(a, q, tau=tau), 0.0),
                         (lambda a: eoc.variance_slope(a, q, SW2, tau=tau), e2 / q),
                         (lambda a: eoc.variance_curvature(a, q, SW2, tau=tau), e2 / q**2),
                         (lambda a: eoc.chi1(a, q, SW2, tau=tau), 0.0),
                         (lambda a: eoc.sparsity(a, q, tau=tau), 0.0)):
            got, ref = f(act), f(name)
            assert np.all(np.abs(got - ref) <= RTOL * np.abs(ref) + 1e-13 * floor), (got, ref)


def test_smooth_max_condition(oracle):
    """Max(0, tanh(x - tau)): the condition tanh(tau - x) >= 0 is solved by SymPy."""
    act = eoc.Activation.from_string("Max(0, tanh(x - tau))", name="tanhrelu")
    q = np.array([0.05, 1.0, 20.0])
    np.testing.assert_allclose(eoc.sparsity(act, q, tau=0.8), ndtr(0.8 / np.sqrt(q)),
                               rtol=4e-16)
    for f, ref in ((lambda v: eoc.second_moment(act, v, tau=0.8),
                    lambda v: oracle.second_moment(act, v, DPS, tau=0.8)),
                   (lambda v: eoc.chi1(act, v, SW2, tau=0.8),
                    lambda v: oracle.chi1(act, v, SW2, DPS, tau=0.8))):
        for v in q:
            assert _rel(f(v), ref(v)) < RTOL


def test_unsolvable_condition_refused():
    tau = sp.Symbol("tau", nonnegative=True)
    with pytest.raises(ValueError, match="periodic"):
        _condition_roots(sp.sin(X) - tau)
    roots, polys = _condition_roots(X**2 - tau)
    assert roots == [] and len(polys) == 1
    roots, _ = _condition_roots(sp.tanh(X) - tau)
    assert roots == [sp.atanh(tau)]
