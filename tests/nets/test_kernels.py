"""Kernels generated from the activation's definition (eoctheory.nets.codegen, .kernels,
.piecewise_linear, .torch_kernels).

Every catalogue activation of the shared registry plus user activations -- a piecewise-linear
ramp with numeric breakpoints, a Piecewise with a smooth branch and parameters, a Min/Max/Abs
composition, and parameter points whose breakpoints (tau + m) round -- against the
definition: ``Activation.__call__`` / ``Activation.derivative`` (lambdified SymPy, float64).

Tolerances: piecewise-linear activations are compared exactly (each branch is the same one or
two IEEE operations on the same inputs; the derivative is a constant per branch). Smooth
expressions fold constants (sqrt(2)/(2 sqrt(pi)) is one float here, three operations in
lambdify) and torch's erf/tanh are other implementations than SciPy's/NumPy's: a few units
in the last place, ``SMOOTH_RTOL``. float32 kernels compute in float32 and compare ``x``
with the breakpoint rounded to float32, so against the float64 definition they agree to
float32 rounding, and their derivative agrees exactly away from the breakpoints (a kink
moves by up to half a float32 ulp of the breakpoint).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sympy as sp

import eoctheory as eoc
from eoctheory.engine.activations import CATALOGUE, M, TAU, X, Activation
from eoctheory.nets import Network, NumpyKernels, pointwise
from eoctheory.nets.codegen import KernelError, derivative_expr, generated_source, vjp_expr
from eoctheory.nets.piecewise_linear import piecewise_linear_runs

from registry import PARAM_POINTS

SMOOTH_RTOL = 8 * np.finfo(np.float64).eps  # folded constants, other libm (module notes)
F32_RTOL = 4 * np.finfo(np.float32).eps     # float32 rounding of constants and of each op
RAMP_TEXT = "Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))"


def _ramp() -> Activation:
    try:  # the string reader is the user's route; from_expr is the same activation
        return Activation.from_string(RAMP_TEXT, "ramp")
    except ValueError:  # pragma: no cover - only while the reader is being rewritten
        r = sp.Rational
        return Activation.from_expr(sp.Piecewise((0, X < r(3, 10)), (2 * (X - r(3, 10)), X < 1),
                                                 (r(7, 5), True)), "ramp")


def _activations() -> list[tuple[str, Activation]]:
    acts = [(f"{n}{p}", CATALOGUE[n].with_values(**p) if p else CATALOGUE[n])
            for n, p in PARAM_POINTS]
    acts += [
        ("ramp", _ramp()),
        ("softclip", Activation.from_expr(
            sp.Piecewise((0, X <= TAU), (M * sp.tanh((X - TAU) / M), True)), "softclip",
            params={"tau": 0.4, "m": 1.5})),
        ("absclip", Activation.from_expr(sp.Min(M, sp.Max(0, sp.Abs(X) - TAU)), "absclip",
                                         params={"tau": 0.4, "m": 1.5})),
        # exp overflows on the unselected branch at large x: autograd through torch.where
        # would give 0 * inf = NaN there; the generated backward selects instead
        ("elu", Activation.from_expr(sp.Piecewise((sp.exp(X) - 1, X < 0), (X, True)), "elu")),
        # tau + m rounds: the clamp needs its exact correction on the flat parts
        ("crelu-rounded", CATALOGUE["crelu"].with_values(tau=1.04, m=1.17)),
        ("cst-rounded", CATALOGUE["cst"].with_values(tau=1.44, m=0.9)),
    ]
    return acts


ACTS = _activations()
IDS = [name for name, _ in ACTS]
PAPER = [("relu", {"tau": 0.7}), ("st", {"tau": 0.3}), ("crelu", {"tau": 0.5, "m": 1.0}),
         ("cst", {"tau": 0.5, "m": 1.5}), ("crelu", {"tau": 1.04, "m": 1.17})]


def _is_linear(act: Activation) -> bool:
    return piecewise_linear_runs(act) is not None


def _breakpoints(act: Activation, dtype=np.float64) -> np.ndarray:
    runs = piecewise_linear_runs(act, dtype)
    if runs is not None:
        pts = {r.lo for r in runs} | {r.hi for r in runs}
    else:  # the candidates of the non-linear ones here: 0, +-tau, +-(tau + m)
        v = act.values
        t, m = v.get("tau", 0.0), v.get("m", 0.0)
        pts = {0.0, t, -t, t + m, -(t + m), 0.3, 1.0}
    return np.array(sorted(p for p in pts if np.isfinite(p)), dtype)


def _grid(act: Activation, dtype=np.float64) -> np.ndarray:
    b = _breakpoints(act, dtype)
    big = np.finfo(dtype).max
    huge = [1e30, -1e30, big / 2, -big / 2]
    return np.concatenate([np.linspace(-6, 6, 2401, dtype=dtype), b,
                           np.nextafter(b, dtype(np.inf)), np.nextafter(b, dtype(-np.inf)),
                           np.array(huge, dtype)]).astype(dtype)


def _definition(act: Activation, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        return act(x.astype(np.float64)), act.derivative(x.astype(np.float64))


@pytest.fixture(scope="module")
def torch_or_none():
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised without torch
        return None
    return torch


# ------------------------------------------------------------------------------------------
# Expressions
# ------------------------------------------------------------------------------------------
def test_derivative_convention_zero_at_the_ends_of_flat_parts():
    d = derivative_expr(CATALOGUE["crelu"].expr)
    vals = {TAU: sp.Rational(1, 2), M: 1}
    at = [d.subs(vals).subs(X, v) for v in (sp.Rational(1, 2), 1, sp.Rational(3, 2), 2)]
    assert at == [0, 1, 0, 0]
    g = vjp_expr(CATALOGUE["crelu"].expr)
    # g folded into the branches: a flat branch is the constant 0, not g * 0
    assert sp.Integer(0) in [b.expr for b in g.args] and g.has(sp.Mul) is False


def test_generated_source_names_only_generated_variables():
    act = Activation.from_expr(sp.Piecewise((0, X < sp.Symbol("alpha")), (X, True)), "a",
                               params={"alpha": 0.25})
    for backend in ("numpy", "torch"):
        for which in ("forward", "backward"):
            src = generated_source(act, backend, which)
            assert "alpha" not in src and "p0" in src, src


def test_unsupported_expression_is_refused_naming_the_node():
    # refused when the Activation is made (admissible expressions) or, at the latest, by
    # the code generator (KernelError, a ValueError)
    with pytest.raises(ValueError, match="gamma"):
        NumpyKernels(Activation.from_expr(sp.gamma(X) / 10, "gamma"))
    with pytest.raises(ValueError, match="backend"):
        generated_source("relu", "jax")


def test_every_admissible_function_translates(torch_or_none):
    """Expressions using each function an activation may use, both backends."""
    smooth = (sp.exp(-X**2) + sp.log(1 + X**2) + sp.sqrt(1 + X**2) + sp.erfc(X)
              + sp.erf(X) / 3 + sp.sin(X) + sp.cos(X) + sp.tanh(X)
              + sp.pi * sp.E * (1 + X**2) ** sp.Rational(3, 2) / 100 + 1 / (2 + X**2))
    kinks = sp.sign(X) * sp.Heaviside(X) + sp.Abs(X) / 7  # Heaviside(0) = 1/2 here
    clip = sp.Max(X, -1) - sp.Min(X, 1)
    x = np.concatenate([np.linspace(-3, 3, 601), [0.0]])
    for e in (smooth, kinks, clip):
        act = Activation.from_expr(e, "everything")
        k = NumpyKernels(act)
        ref, dref = _definition(act, x)
        np.testing.assert_allclose(k.forward(x), ref, rtol=SMOOTH_RTOL, atol=1e-14)
        np.testing.assert_allclose(k.derivative(x), dref, rtol=SMOOTH_RTOL, atol=1e-14)
        if torch_or_none is not None:
            from eoctheory.nets.torch_kernels import torch_function

            xt = torch_or_none.tensor(x, requires_grad=True)
            y = torch_function(act)(xt)
            (g,) = torch_or_none.autograd.grad(y.sum(), xt)
            np.testing.assert_allclose(y.detach().numpy(), ref, rtol=SMOOTH_RTOL, atol=1e-14)
            np.testing.assert_allclose(g.numpy(), dref, rtol=SMOOTH_RTOL, atol=1e-14)


def test_piecewise_linear_runs_of_cst_with_closed_flat_parts():
    runs = piecewise_linear_runs("cst", tau=0.5, m=1.0)
    got = [(r.lo, r.lo_closed, r.hi, r.hi_closed, r.slope) for r in runs]
    assert got == [(-np.inf, True, -1.5, True, 0.0), (-1.5, False, -0.5, False, 1.0),
                   (-0.5, True, 0.5, True, 0.0), (0.5, False, 1.5, False, 1.0),
                   (1.5, True, np.inf, True, 0.0)]
    assert piecewise_linear_runs("gelu") is None


# ------------------------------------------------------------------------------------------
# NumPy kernels against the definition
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,act", ACTS, ids=IDS)
def test_numpy_float64_equals_the_definition(name, act):
    x = _grid(act)
    k = NumpyKernels(act)
    f, d = k.forward(x), k.derivative(x)
    ref, dref = _definition(act, x)
    assert f.dtype == d.dtype == np.float64
    if _is_linear(act) or name.startswith("absclip"):
        np.testing.assert_array_equal(f, ref)
        np.testing.assert_array_equal(d, dref)
    else:
        np.testing.assert_allclose(f, ref, rtol=SMOOTH_RTOL, atol=1e-300)
        np.testing.assert_allclose(d, dref, rtol=SMOOTH_RTOL, atol=SMOOTH_RTOL)


@pytest.mark.parametrize("name,act", ACTS, ids=IDS)
def test_numpy_float32_stays_float32_and_agrees_to_float32_rounding(name, act):
    x = _grid(act, np.float32)
    k = NumpyKernels(act)
    f, d = k.forward(x), k.derivative(x)
    assert f.dtype == d.dtype == np.float32
    ref, dref = _definition(act, x)
    fin = np.isfinite(ref) & (np.abs(x) < 1e29)
    np.testing.assert_allclose(f[fin], ref[fin], rtol=F32_RTOL, atol=F32_RTOL)
    b = _breakpoints(act, np.float64)
    far = np.min(np.abs(x[:, None].astype(float) - b[None, :]), axis=1) > \
        4 * np.spacing(np.float32(np.max(np.abs(b)) + 1)) if b.size else np.ones(x.size, bool)
    if _is_linear(act):
        np.testing.assert_array_equal(d[far], dref[far].astype(np.float32))
    else:
        np.testing.assert_allclose(d[far & fin], dref[far & fin], rtol=F32_RTOL,
                                   atol=F32_RTOL)


def test_float32_derivative_exact_at_representable_kinks():
    k = NumpyKernels("cst", tau=0.5, m=1.0)  # breakpoints +-0.5, +-1.5: exact in float32
    x = np.array([-1.5, -0.5, 0.5, 1.5, -1.0, 1.0, 0.0, 3.0], np.float32)
    np.testing.assert_array_equal(k.derivative(x), [0, 0, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(k.forward(x), [-1, 0, 0, 1, -0.5, 0.5, 0, 1])


def test_out_in_place_and_input_types():
    k = NumpyKernels("crelu", tau=0.5, m=1.0)
    x = np.linspace(-2, 3, 11)
    want = k.forward(x)
    y = x.copy()
    assert k.forward(y, out=y) is y
    np.testing.assert_array_equal(y, want)
    out = np.empty_like(x)
    assert k.derivative(x, out=out) is out
    np.testing.assert_array_equal(k.forward([1, 2]), [0.5, 1.0])  # ints -> float64
    with pytest.raises(ValueError, match="out"):
        k.forward(x, out=np.empty(3))
    with pytest.raises(ValueError, match="out"):
        k.forward(x, out=np.empty_like(x, np.float32))
    with pytest.raises(ValueError, match="tau"):
        k.forward(x, tau=-1.0)
    np.testing.assert_array_equal(k.forward(x, tau=0.0), np.clip(x, 0, 1))


def test_mul_derivative_multiplies_in_place():
    for act in ("cst", "tanh", _ramp()):
        k = NumpyKernels(act)
        x = np.linspace(-3, 3, 301)
        g = np.linspace(1, 2, 301)
        want = g * k.derivative(x)
        assert k.mul_derivative(g, x) is g
        np.testing.assert_array_equal(g, want)


def test_numeric_only_activation_goes_through_its_callables():
    act = Activation.from_callable(np.tanh, "np_tanh", derivative=lambda x: 1 - np.tanh(x) ** 2)
    k = NumpyKernels(act)
    x = np.linspace(-2, 2, 9, dtype=np.float32)
    assert k.forward(x).dtype == np.float32
    np.testing.assert_allclose(k.forward(x), np.tanh(x), rtol=F32_RTOL)
    assert not k.piecewise_linear


def test_pointwise_kernel_choice():
    ramp = _ramp()
    assert pointwise(ramp).generated and pointwise("gelu").generated
    assert pointwise("relu", kernel="generated", tau=0.2).generated
    with pytest.raises(ValueError, match="hand-written"):
        pointwise(ramp, kernel="hand")
    with pytest.raises(ValueError, match="kernel"):
        pointwise("relu", kernel="fast")


def test_reference_network_with_a_user_activation_matches_finite_differences():
    # float64; central differences with eps 1e-6 on a piecewise-linear phi are exact up to
    # O(eps) roundoff unless a pre-activation lies within eps of a breakpoint (checked below)
    net = Network(_ramp(), [5, 7, 6, 3], 1.6, 0.05, rng=4, first_layer="preserve")
    x = np.random.default_rng(0).standard_normal((4, 5))
    rec = net.forward(x)
    target = np.zeros_like(rec.output)
    back = net.backward(target=target)
    eps = 1e-6
    W = net.weights[1]
    num = np.empty_like(W)
    for idx in np.ndindex(W.shape):
        old = W[idx]
        W[idx] = old + eps
        lp = net.loss(x, target)
        W[idx] = old - eps
        lm = net.loss(x, target)
        W[idx] = old
        num[idx] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(back.grad_w[1], num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------------------
# torch
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    t = pytest.importorskip("torch", reason="torch not installed (pip install 'eoctheory[torch]')")
    t.set_num_threads(1)
    return t


@pytest.fixture(scope="module")
def et(torch):
    from eoctheory.nets import torch as et_

    return et_


def _run(torch, et, act, x):
    mod = et.activation_module(act)
    xt = torch.tensor(x, requires_grad=True)
    y = mod(xt)
    (g,) = torch.autograd.grad(y.sum(), xt)
    return y.detach().numpy(), g.numpy()


@pytest.mark.parametrize("name,act", ACTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_equals_numpy_values_and_gradients(torch, et, name, act, dtype):
    x = _grid(act, dtype)
    y, g = _run(torch, et, act, x)
    k = NumpyKernels(act)
    f, d = k.forward(x), k.derivative(x)
    assert y.dtype == g.dtype == dtype
    fin = np.isfinite(f)
    if _is_linear(act) or name.startswith("absclip"):
        # same runs and clamp, or the same where chain of arithmetic, in the same dtype
        np.testing.assert_array_equal(y, f)
        np.testing.assert_array_equal(g, d)
    else:  # autograd of torch's own tanh/erf against NumPy/SciPy
        rtol = SMOOTH_RTOL if dtype == np.float64 else F32_RTOL
        np.testing.assert_allclose(y[fin], f[fin], rtol=rtol, atol=rtol)
        np.testing.assert_allclose(g[fin], d[fin], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name,act", ACTS, ids=IDS)
def test_torch_no_nan_gradient_at_huge_inputs_and_kinks(torch, et, name, act):
    for dtype in (np.float64, np.float32):
        x = _grid(act, dtype)
        y, g = _run(torch, et, act, x)
        assert not np.isnan(g).any(), x[np.isnan(g)]
        ref, _ = _definition(act, x)
        assert not np.isnan(y[~np.isnan(ref)]).any()


@pytest.mark.parametrize("name,act", [a for a in ACTS if _is_linear(a[1])],
                         ids=[n for n, a in ACTS if _is_linear(a)])
def test_torch_gradient_exactly_zero_on_flat_parts_and_their_ends(torch, et, name, act):
    """Inside every run and at its closed ends the gradient is the run's slope, exactly."""
    pts, want = [], []
    for r in piecewise_linear_runs(act):
        lo = r.lo if np.isfinite(r.lo) else min(r.hi, 0.0) - 2.0
        hi = r.hi if np.isfinite(r.hi) else max(r.lo, 0.0) + 2.0
        pts.append(lo + (hi - lo) / 3)
        want.append(r.slope)
        for v, closed in ((r.lo, r.lo_closed), (r.hi, r.hi_closed)):
            if closed and np.isfinite(v):
                pts.append(v)
                want.append(r.slope)
    _, g = _run(torch, et, act, np.array(pts))
    np.testing.assert_array_equal(g, want)
    assert 0.0 in want or name.startswith("identity")  # flat parts were tested


@pytest.mark.parametrize("name,act", ACTS, ids=IDS)
def test_torch_gradcheck_away_from_kinks(torch, et, name, act):
    b = _breakpoints(act)
    x = np.linspace(-4, 4, 41) + 0.0123
    x = x[np.min(np.abs(x[:, None] - b[None, :]), axis=1) > 1e-3] if b.size else x
    mod = et.activation_module(act)
    xt = torch.tensor(x, requires_grad=True)
    assert torch.autograd.gradcheck(mod, (xt,), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,params", PAPER)
def test_generated_paper_modules_agree_with_the_hand_written_functions(torch, et, name,
                                                                       params):
    hand = {"relu": et.relu_tau, "st": et.st_tau, "crelu": et.crelu, "cst": et.cst}[name]
    mod = et.make_activation(name, **params)
    assert isinstance(mod, et.ACTIVATIONS[name]) and isinstance(mod, et.SymbolicActivation)
    act = eoc.get_activation(name, **params)
    b = _breakpoints(act)
    x = np.concatenate([np.linspace(-4, 4, 8001), b])
    xt1 = torch.tensor(x, requires_grad=True)
    xt2 = torch.tensor(x, requires_grad=True)
    y1, y2 = hand(xt1, *params.values()), mod(xt2)
    # hand-written clip(x - tau, 0, m) and the definition (x - tau below fl(tau + m), else m)
    # differ by one rounding next to a rounded breakpoint: 1 ulp of the output scale
    np.testing.assert_allclose(y1.detach().numpy(), y2.detach().numpy(), rtol=0,
                               atol=2 * np.spacing(4.0))
    (g1,) = torch.autograd.grad(y1.sum(), xt1)
    (g2,) = torch.autograd.grad(y2.sum(), xt2)
    # the hand-written functions test their own rounded x - tau, the definition tests x
    # against the rounded breakpoint: they may differ within 2 ulps of a breakpoint (at
    # x = fl(tau + m) itself, fl(x - tau) can be just below m)
    near = np.min(np.abs(x[:, None] - b[None, :]), axis=1) <= 2 * np.spacing(4.0)
    np.testing.assert_array_equal(g1.numpy()[~near], g2.numpy()[~near])
    assert np.all(g2.numpy()[np.isin(x, b)] == 0)  # every kink of these ends a flat part


def test_symbolic_module_repr_parameters_copy_and_pickle(torch, et):
    mod = et.activation_module("crelu", tau=0.5, m=1.2)
    assert repr(mod) == "CReLU(tau=0.5, m=1.2)"
    assert repr(et.activation_module("gelu")) == "SymbolicActivation(gelu)"
    user = et.SymbolicActivation(_ramp())
    assert repr(user) == "SymbolicActivation(ramp)"
    mod.tau = 0.7  # plain float attributes: the forward pass reads them
    assert float(mod(torch.tensor([1.0]))) == pytest.approx(0.3)
    assert mod.to_activation().values == {"tau": 0.7, "m": 1.2}
    c = mod.copy()
    c.tau = 0.1
    assert mod.tau == 0.7 and type(c) is et.CReLU
    model = et.dnn(4, width=6, depth=2, activation=_ramp())
    back = pickle.loads(pickle.dumps(model))
    x = torch.randn(3, 4)
    assert torch.equal(back(x), model(x))
    with pytest.raises(ValueError, match="clashes"):
        et.SymbolicActivation(Activation.from_expr(sp.Symbol("training") * X, "t",
                                                   params={"training": 1.0}))
    with pytest.raises(ValueError, match="tau"):
        et.SymbolicActivation("relu", tau=-1.0)


def test_numeric_only_activation_in_torch_goes_through_numpy(torch, et):
    act = Activation.from_callable(np.tanh, "np_tanh", derivative=lambda x: 1 - np.tanh(x) ** 2)
    mod = et.activation_module(act)
    x = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    y = mod(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(y.detach().numpy(), np.tanh(x.detach().numpy()), rtol=1e-15)
    np.testing.assert_allclose(g.numpy(), 1 - np.tanh(x.detach().numpy()) ** 2, rtol=1e-15)


def test_where_route_supports_vmap_and_double_backward(torch, et):
    act = dict(ACTS)["softclip"]
    mod = et.activation_module(act)
    x = torch.linspace(-1, 3, 7, dtype=torch.float64) + 0.01  # no kink (0.4) among these
    v = torch.func.vmap(mod)(x.reshape(7, 1))
    np.testing.assert_array_equal(v.reshape(-1).numpy(), mod(x).numpy())
    assert torch.autograd.gradgradcheck(mod, (x.requires_grad_(),))


def test_a_custom_activation_trains(torch, et):
    ramp = _ramp()
    torch.manual_seed(0)
    model = et.dnn(20, width=32, depth=4, n_classes=3, activation=ramp)
    ini = et.eoc_init_(model, ramp, generator=torch.Generator().manual_seed(0))
    assert ini.sigma_w2 > 0
    x, y = torch.randn(64, 20), torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w0 = et.weight_layers(model)[1].weight.detach().clone()
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
        losses.append(float(loss.detach()))
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert not torch.equal(w0, et.weight_layers(model)[1].weight)
    with et.SparsityMonitor(model) as mon:  # exact zeros below x = 0.3 are counted
        model(x)
        assert np.all(mon.sparsity() > 0)


def test_from_reference_with_a_user_activation_gives_the_reference_statistics(torch, et):
    ramp = _ramp()
    net = Network(ramp, [12, 16, 16, 8], 1.8, 0.05, first_layer="preserve", rng=3)
    x = np.random.default_rng(1).standard_normal((5, 12))
    rec = net.forward(x)
    model = et.from_reference(net)
    st = et.layer_stats(model, torch.from_numpy(x), activation=et.activation_module(ramp))
    np.testing.assert_allclose(st.q, rec.q, rtol=1e-12)
    np.testing.assert_array_equal(st.sparsity, rec.sparsity)
    cnn = et.cnn(2, channels=4, depth=2, activation=ramp)
    assert cnn(torch.zeros(1, 2, 5, 5)).shape == (1, 10)
