"""One return convention for the public maps of q, and a cheap ``import eoctheory``.

Every public function that maps a variance q (and parameters) to a number returns
``numpy.float64`` (a subclass of ``float``) when every input is a scalar, as NumPy's ufuncs
do, and an ndarray of the broadcast shape otherwise. The scalar and the array call give the
same value: both run the same compiled expression, so they are compared to 4 ulp (a
vectorised and a one-element evaluation may round differently in the last place).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import eoctheory as eoc
from eoctheory.engine.maps import gaussian_moment

SW2, SB2 = 2.0, 0.1

# (name, call(activation, q, **params)): every public map of q in eoctheory.__all__, plus
# engine.maps.gaussian_moment (public in that module)
MAPS = {
    "sparsity": lambda a, q, **p: eoc.sparsity(a, q, **p),
    "second_moment": lambda a, q, **p: eoc.second_moment(a, q, **p),
    "second_moment_derivative": lambda a, q, **p: eoc.second_moment_derivative(a, q, 2, **p),
    "slope_moment": lambda a, q, **p: eoc.slope_moment(a, q, **p),
    "slope_moment4": lambda a, q, **p: eoc.slope_moment4(a, q, **p),
    "variance_map": lambda a, q, **p: eoc.variance_map(a, q, SW2, SB2, **p),
    "variance_slope": lambda a, q, **p: eoc.variance_slope(a, q, SW2, **p),
    "variance_curvature": lambda a, q, **p: eoc.variance_curvature(a, q, SW2, **p),
    "chi1": lambda a, q, **p: eoc.chi1(a, q, SW2, **p),
    "gaussian_moment": lambda a, q, **p: gaussian_moment(a, "phi4", lambda f, df: f**4, q,
                                                          **p),
}
# one activation per evaluation route: closed form, closed form with two parameters,
# smooth quadrature with asymptotes
ACTIVATIONS = {"relu": {"tau": 0.3}, "crelu": {"tau": 0.3, "m": 1.2}, "gelu": {}}


def test_every_public_map_of_q_is_covered():
    """A new public map of q must join MAPS (or be listed here as not a map of q)."""
    import inspect

    maps_of_q = {n for n in eoc.__all__ if callable(getattr(eoc, n))
                 and not inspect.isclass(getattr(eoc, n))
                 and list(inspect.signature(getattr(eoc, n)).parameters)[1:2] == ["q"]}
    assert maps_of_q <= set(MAPS), maps_of_q - set(MAPS)


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_scalar_in_float64_out_array_in_array_out(name, act):
    f, params = MAPS[name], ACTIVATIONS[act]
    scalar = f(act, 1.5, **params)
    assert type(scalar) is np.float64 and isinstance(scalar, float)
    assert type(f(act, np.float64(1.5), **params)) is np.float64
    assert type(f(act, np.array(1.5), **params)) is np.float64  # a 0-d array is a scalar
    for q in ([1.5], np.array([0.5, 1.5, 4.0]), np.full((2, 3), 1.5)):
        out = f(act, q, **params)
        assert type(out) is np.ndarray and out.shape == np.shape(q) and out.dtype == float
    arr = f(act, np.array([0.5, 1.5, 4.0]), **params)
    assert arr[1] == pytest.approx(scalar, rel=4 * np.finfo(float).eps, abs=0)


@pytest.mark.parametrize("name", MAPS)
def test_an_array_parameter_gives_an_array(name):
    out = MAPS[name]("crelu", 1.0, tau=np.array([0.2, 0.4]), m=1.0)
    assert type(out) is np.ndarray and out.shape == (2,)


@pytest.mark.parametrize("call", [
    pytest.param(lambda: eoc.correlation_map("relu", 0.5, SW2, SB2, tau=0.3),
                 id="correlation_map"),
    pytest.param(lambda: eoc.eoc_point("relu", 1.0, tau=0.3).q_star, id="eoc_point.q_star"),
    pytest.param(lambda: eoc.eoc_point("relu", 1.0, tau=0.3).sigma_b2, id="eoc_point.sigma_b2"),
    pytest.param(lambda: eoc.tau_from_sparsity("relu", 0.6), id="tau_from_sparsity"),
])
def test_other_public_maps_follow_the_convention(call):
    assert type(call()) is np.float64


def test_import_is_cheap_and_submodules_resolve_on_first_use():
    code = ("import sys, types, eoctheory\n"
            "heavy = [m for m in ('matplotlib', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "for name in ('latex', 'figures', 'nets', 'experiments', 'theory', 'engine', "
            "'finite_width', 'cli'):\n"
            "    assert isinstance(getattr(eoctheory, name), types.ModuleType), name\n"
            "    assert name in dir(eoctheory), name\n"
            "assert callable(eoctheory.latex.latex_quantity)\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        eoc.nonesuch  # noqa: B018
