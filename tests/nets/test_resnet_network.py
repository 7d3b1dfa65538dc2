"""The NumPy reference residual MLP: backward by finite differences, Monte Carlo against
the theory of eoctheory.theory.resnet, the finite-width predictor against seeds, and the
torch builder against the reference. Small and seeded (a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from eoctheory.nets.network import correlated_inputs
from eoctheory.nets.resnet import ResNet, simulate_resnet
from eoctheory.theory.resnet import predict_resnet, residual_trajectory

CASES = [("tanh", {}), ("crelu", {"sparsity": 0.6, "target_slope": 0.7}),
         ("cst", {"sparsity": 0.5, "target_slope": 0.7}), ("relu", {"sparsity": 0.7})]


@pytest.mark.parametrize("name,kw", CASES)
@pytest.mark.parametrize("branch", ["one", "two"])
def test_backward_matches_finite_differences(name, kw, branch):
    # central differences with step 1e-6 in float64: truncation O(1e-12) relative, round-off
    # ~1e-10 / 1e-6; kinks are hit with probability ~0 at these points
    net = ResNet(name, width=10, depth=3, in_features=6, branch=branch, alpha=0.7, rng=3, **kw)
    gen = np.random.default_rng(0)
    x, y = gen.standard_normal((3, 6)), gen.standard_normal((3, 10))
    net.forward(x)
    rec = net.backward(target=y)
    assert rec.loss == pytest.approx(net.loss(x, y), rel=1e-14)
    for P, G in zip(net.parameters(), rec.grads):
        for idx in [(0,) * P.ndim, tuple(s - 1 for s in P.shape)]:
            old = P[idx]
            P[idx] = old + 1e-6
            lp = net.loss(x, y)
            P[idx] = old - 1e-6
            lm = net.loss(x, y)
            P[idx] = old
            assert (lp - lm) / 2e-6 == pytest.approx(G[idx], rel=1e-5, abs=1e-7)


def test_alpha_zero_is_the_identity_network():
    net = ResNet("crelu", width=16, depth=4, sparsity=0.8, alpha=0.0, rng=1)
    x = np.random.default_rng(2).standard_normal((2, 16))
    rec = net.forward(x)
    np.testing.assert_allclose(rec.output, x @ net.w_in, rtol=1e-15)
    back = net.backward(grad_output=np.ones((2, 16)))
    np.testing.assert_allclose(back.grad_h_norm, back.grad_h_norm[-1], rtol=1e-15)


def test_float32_runs_close_to_float64():
    kw = dict(width=32, depth=5, sparsity=0.7, target_slope=0.7, alpha=0.5, rng=4)
    x = correlated_inputs(4, 32, rng=5)
    n32 = ResNet("cst", dtype=np.float32, **kw)
    n64 = ResNet("cst", **kw)  # float32 draws differ: give it the float32 weights
    for p64, p32 in zip(n64.parameters(), n32.parameters()):
        p64[...] = p32
    a, b = n64.forward(x).q, n32.forward(x).q
    np.testing.assert_allclose(a, b, rtol=1e-4)  # float32 round-off through 5 blocks


@pytest.mark.parametrize("name,kw,follow,branch", [
    ("crelu", {"sparsity": 0.85, "target_slope": 0.7}, False, "one"),
    ("cst", {"sparsity": 0.7, "target_slope": 0.7}, True, "two"),
    ("tanh", {}, True, "one"),
])
def test_monte_carlo_matches_theory(name, kw, follow, branch):
    # 3 seeds x 8 inputs of width 256, depth 10, alpha 0.5. Tolerance: 4 standard errors of
    # the across-input mean (measured spread) plus 3 % for the O(1/N) finite-width bias
    # (N = 256) of the mean-field maps.
    L, N = 10, 256
    Q, S, R, G = [], [], [], []
    for seed in range(3):
        net = ResNet(name, width=N, depth=L, alpha=0.5, branch=branch, tau_follows_q=follow,
                     rng=seed, **kw)
        rec = net.forward(correlated_inputs(8, N, q=1.0, rho=0.5, rng=10 + seed))
        back = net.backward(grad_output=np.random.default_rng(20 + seed).standard_normal((8, N)))
        Q.append(rec.q.T)
        S.append(rec.sparsity)
        R.append(rec.rho.T)
        G.append(np.log(back.grad_h_norm[0] / back.grad_h_norm[-1]))
    tr = residual_trajectory(name, depth=L, alpha=0.5, branch=branch, tau_follows_q=follow,
                             rho_input=0.5, **kw)

    def close(samples, want, what):
        s = np.asarray(samples)
        m, se = s.mean(axis=0), s.std(axis=0, ddof=1) / np.sqrt(len(s)) + 1e-12
        assert np.all(np.abs(m - want) <= 4 * se + 0.03 * np.abs(want) + 1e-3), what

    close(np.concatenate(Q), tr.q, "q")
    close(np.concatenate(R), tr.rho, "rho")
    close(S, tr.sparsity, "sparsity")
    # log gradient ratio: 3 batches only, the per-batch spread is ~0.1 (predictor: sd/2)
    assert abs(np.mean(G) - np.log(tr.gradient_ratio[0])) < 0.15


def test_predictor_against_seeds():
    # predicted risk ~0 (tau follows, alpha 0.2) and ~0.96 (fixed tau): the failed fraction
    # of 12 seeds must be inside the 99.9 % binomial interval of the prediction
    for kw, follow in [({"alpha": 0.2}, True), ({"alpha": 0.2}, False)]:
        sim = simulate_resnet("relu", width=200, depth=30, seeds=12, sparsity=0.85,
                              tau_follows_q=follow, **kw)
        p = predict_resnet("relu", width=200, depth=30, sparsity=0.85, tau_follows_q=follow,
                           **kw).risk
        lo, hi = stats.binom.interval(0.999, 12, min(max(p, 1e-9), 1 - 1e-9))
        assert lo <= round(sim.failed * 12) <= hi, (follow, p, sim.failed)


def test_bad_input():
    with pytest.raises(ValueError, match="width"):
        ResNet("relu", width=0, depth=3, sparsity=0.5)
    net = ResNet("relu", width=8, depth=2, sparsity=0.5, rng=0)
    with pytest.raises(ValueError, match="backward needs"):
        net.backward(target=np.zeros((1, 8)))
    with pytest.raises(ValueError, match="shape"):
        net.forward(np.zeros((2, 5)))
    net.forward(np.ones((2, 8)))
    with pytest.raises(ValueError, match="exactly one"):
        net.backward(target=np.zeros((2, 8)), grad_output=np.zeros((2, 8)))
    with pytest.raises(ValueError, match="target"):
        net.backward(target=np.zeros((3, 8)))
    with pytest.raises(ValueError, match="dtype"):
        ResNet("relu", width=8, depth=2, sparsity=0.5, dtype=np.int32)


def test_torch_builder_matches_reference():
    torch = pytest.importorskip("torch")
    from eoctheory.nets.torch import SparsityMonitor
    from eoctheory.nets.torch_resnet import StreamMonitor, resnet, resnet_init_, stream_stats

    kw = dict(sparsity=0.7, target_slope=0.7, alpha=0.4, branch="two")
    ref = ResNet("crelu", width=24, depth=4, in_features=10, rng=0, **kw)
    model = resnet(10, width=24, depth=4, n_classes=3, activation="crelu", **kw).double()
    resnet_init_(model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # copy the reference's weights (stored transposed)
        model.input_layer.weight.copy_(torch.from_numpy(ref.w_in.T))
        for blk, ws, bs in zip(model.blocks, ref.weights, ref.biases):
            for lay, W, b in zip((blk.linear1, blk.linear2), ws, bs):
                lay.weight.copy_(torch.from_numpy(W.T))
                lay.bias.copy_(torch.from_numpy(b))
    x = np.random.default_rng(1).standard_normal((5, 10))
    rec = ref.forward(x)
    st = stream_stats(model, torch.from_numpy(x))
    np.testing.assert_allclose(st.q, rec.q, rtol=1e-12)      # same float64 arithmetic
    np.testing.assert_allclose(st.sparsity, rec.sparsity, atol=1e-12)
    # stream gradients: dL/dh^L = 1 through the readout's weights; compare with the reference
    g_out = np.random.default_rng(2).standard_normal((5, 24))
    back = ref.backward(grad_output=g_out)
    with StreamMonitor(model) as mon, SparsityMonitor(model) as sm:
        h = model.input_layer(torch.from_numpy(x))
        for blk in model.blocks:
            h = blk(h)
        (h * torch.from_numpy(g_out)).sum().backward()
        row = mon.step()
        assert sm.sparsity().shape == (8,)   # two activations per block
    np.testing.assert_allclose(row, back.grad_h_norm, rtol=1e-10)
    with pytest.raises(ValueError, match="resnet"):
        resnet_init_(torch.nn.Linear(2, 2))
