"""The one setting resolver and the all-solutions slope solver, against the mpmath oracle."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from eoctheory.engine import precise
from eoctheory.engine.activations import M, X, Activation, get_activation
from eoctheory.theory.eoc import m_for_slope
from eoctheory.theory.setting import DEFAULT_TARGET_SLOPE, Setting, resolve_setting

from registry import tau_for

# A clipped ReLU with a plateau of length 1 after which the ramp resumes: as m -> 0 it is
# ReLU shifted by 1 (V'(q*) -> 1 on the EoC), as m -> oo plain ReLU (V' -> 1); in between
# the plateau pulls V'(q*) down to ~0.48, so V'(q*) = 0.9 has two solutions in m.
PLATEAU = Activation.from_expr(
    sp.Piecewise((0, X <= 0), (X, X < M), (M, X < M + 1), (X - 1, True)),
    name="plateau", params={"m": 1.0})

# 30 digits: the oracle's own error is ~1e-25, so 1e-11 relative leaves room only for the
# float64 route's round-off (closed forms are accurate to ~1e-14 in the body).
RTOL = 1e-11


def _oracle_checks(s: Setting) -> None:
    act, q = s.activation, s.q_star
    assert float(precise.chi1(act, q, s.sigma_w2)) == pytest.approx(1.0, rel=RTOL)
    v = precise.variance_map(act, q, s.sigma_w2, s.sigma_b2)
    assert float(v) == pytest.approx(q, rel=RTOL)
    assert float(precise.variance_slope(act, q, s.sigma_w2)) == pytest.approx(
        s.variance_slope, rel=RTOL, abs=1e-13)
    assert float(precise.sparsity(act, q)) == pytest.approx(s.sparsity, rel=RTOL)


@pytest.mark.parametrize("name,sparsity,slope,q_star", [
    ("relu", 0.7, None, 1.0),
    ("st", 0.6, None, 2.5),
    ("crelu", 0.85, 0.7, 1.0),
    ("crelu", 0.6, 0.9, 0.01),
    ("cst", 0.8, 0.5, 100.0),
])
def test_resolved_setting_is_on_the_eoc(name, sparsity, slope, q_star):
    s = resolve_setting(name, sparsity=sparsity, target_slope=slope, q_star=q_star)
    _oracle_checks(s)
    # tau from THEORY.md §3, typed independently in the test registry
    assert s.tau == pytest.approx(tau_for(name, sparsity, q_star), rel=1e-12)
    if slope is not None:
        assert s.variance_slope == pytest.approx(slope, abs=1e-12)
        assert s.target_slope == slope


def test_default_target_slope_for_clipped_activations():
    s = resolve_setting("cst", sparsity=0.7)
    assert s.target_slope == DEFAULT_TARGET_SLOPE
    assert s.variance_slope == pytest.approx(DEFAULT_TARGET_SLOPE, abs=1e-12)
    keep = resolve_setting("cst", sparsity=0.7, default_slope=False)
    assert keep.m == get_activation("cst").values["m"] and keep.target_slope is None


def test_off_eoc_and_given_parameters():
    s = resolve_setting("crelu", tau=0.5, m=1.5, sigma_w2=2.0, sigma_b2=0.1)
    assert not s.on_eoc and (s.tau, s.m, s.sigma_w2, s.sigma_b2) == (0.5, 1.5, 2.0, 0.1)
    assert s.chi1 == pytest.approx(float(precise.chi1(s.activation, 1.0, 2.0)), rel=RTOL)
    d = s.to_dict()
    assert d["variance_slope"] == s.variance_slope == s.V_prime


@pytest.mark.parametrize("kw,match", [
    ({"sparsity": 0.5, "tau": 0.1}, "at most one of sparsity and tau"),
    ({"m": 1.0, "target_slope": 0.7}, "at most one of m and target_slope"),
    ({"sigma_w2": 2.0}, "both sigma_w2 and sigma_b2"),
    ({"sparsity": 1.0}, "sparsity must be in"),
    ({"q_star": -1.0}, "q_star must be"),
    ({"q_star": float("nan")}, "q_star must be finite"),
    ({"m": -1.0}, "m must satisfy m > 0"),
    ({"target_slope": 1.5, "sparsity": 0.7}, "not attainable"),
])
def test_bad_arguments_name_the_parameter(kw, match):
    with pytest.raises(ValueError, match=match):
        resolve_setting("crelu", **kw)


def test_option_without_parameter_is_refused():
    with pytest.raises(ValueError, match="no clipping height m"):
        resolve_setting("relu", sparsity=0.6, target_slope=0.7)
    with pytest.raises(ValueError, match="no threshold tau"):
        resolve_setting("tanh", sparsity=0.6)


def test_m_for_slope_finds_every_solution():
    sol = m_for_slope(PLATEAU, 0.9)
    assert int(sol.n_solutions) == 2
    others = np.ravel(sol.other_m)[0]
    assert len(others) == 1
    # both reach the target, checked by the oracle (not by the closed form that found them)
    for m in (float(sol.m), float(others[0])):
        act = PLATEAU.with_values(m=m)
        sw2 = 1.0 / float(precise.slope_moment(act, 1.0))
        assert float(precise.variance_slope(act, 1.0, sw2)) == pytest.approx(0.9, rel=1e-10)
    # the rule: the smallest m on a rising branch (here the larger root)
    assert float(sol.m) > others[0]
    s = resolve_setting(PLATEAU, target_slope=0.9)
    assert s.m == pytest.approx(float(sol.m), rel=1e-14)
    assert s.other_m == pytest.approx(tuple(others), rel=1e-14)


def test_m_for_slope_unique_for_paper_activations():
    sol = m_for_slope("crelu", np.array([0.3, 0.5, 0.7, 0.9]), sparsity=np.array([[0.5], [0.85]]))
    assert sol.n_solutions.shape == (2, 4) and np.all(sol.n_solutions == 1)
    assert all(len(o) == 0 for o in sol.other_m.ravel())


def test_activation_objects_keep_their_clipping_height():
    """A name gets the default slope; an Activation object keeps the m its maker set."""
    act = get_activation("crelu", tau=0.5, m=1.5)
    s = resolve_setting(act)
    assert (s.tau, s.m, s.target_slope) == (0.5, 1.5, None)
    named = resolve_setting("crelu", tau=0.5)
    assert named.target_slope == DEFAULT_TARGET_SLOPE and named.tau == 0.5
    assert named.variance_slope == pytest.approx(DEFAULT_TARGET_SLOPE, abs=1e-12)
