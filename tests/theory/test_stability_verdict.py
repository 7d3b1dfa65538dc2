"""Verdict details added with the calibration: homogeneous activations, the gradient fraction."""

from __future__ import annotations

import numpy as np
import pytest

import eoctheory as eoc
from eoctheory.theory.stability import GRADIENT_FRACTION_NOTE, assess, gradient_fraction


@pytest.mark.parametrize("name", ["plain_relu", "identity"])
def test_positively_homogeneous_on_eoc_is_stable(name):
    rep = assess(name)
    assert rep.verdict == "stable" and "homogeneous" in rep.reasons[0]


def test_relu_tau_still_unstable():
    # a length scale tau > 0 breaks homogeneity at fixed parameters: V'' > 0 drift
    assert assess("relu", tau=0.5244).verdict == "unstable"


@pytest.mark.parametrize("name,s,v", [("crelu", 0.85, 0.5), ("cst", 0.7, 0.9), ("relu", 0.6, None)])
def test_gradient_fraction_identities(name, s, v):
    st = eoc.resolve_setting(name, sparsity=s, **({} if v is None else {"target_slope": v}))
    f = gradient_fraction(st.activation, 1.0, **st.params)
    # slopes are 0 or 1: f = P(phi' != 0) = 1/sigma_w^2 on the EoC (chi_1 = sigma_w^2 f = 1)
    assert f == pytest.approx(1.0 / st.sigma_w2, rel=1e-10)
    # and against Monte Carlo (2e6 draws: binomial sd < 3e-4)
    z = np.random.default_rng(1).standard_normal(2_000_000)
    d = st.activation.derivative(z, **st.params)
    assert f == pytest.approx(np.mean(d != 0), abs=1.5e-3)


def test_gradient_fraction_note_only_when_few_units():
    few = eoc.resolve_setting("crelu", sparsity=0.85, target_slope=0.5)
    many = eoc.resolve_setting("crelu", sparsity=0.7, target_slope=0.7)
    assert gradient_fraction(few.activation, **few.params) <= GRADIENT_FRACTION_NOTE
    assert any("effective" in r for r in assess(few.activation, **few.params).reasons)
    assert not any("effective" in r for r in assess(many.activation, **many.params).reasons)
