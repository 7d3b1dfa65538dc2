"""The NumPy reference 2-D CNN (eoctheory.nets.cnn2d).

Exactness: the im2col forward against a direct convolution (np.pad + a sum over offsets),
the hand-written backward against central finite differences (float64, tiny network).
Statistics: seeded Monte Carlo at 64 channels, 8x8 images, depth 10, against the
infinite-width maps; each tolerance is 5 standard errors estimated from the seeds themselves
(checked to be small, so the test has teeth) plus a finite-width allowance of order 1/C.
"""

from __future__ import annotations

import numpy as np
import pytest

import eoctheory as eoc
from eoctheory.engine.activations import Activation
from eoctheory.nets import correlated_inputs, eoc_init, seed_rng
from eoctheory.nets.cnn2d import CNN2d, estimate_cnn2d
from eoctheory.theory.correlation import correlation_map


def images(B, C0, H, W, q=1.0, rho=0.5, rng=0):
    """(B, C0, H, W) Gaussian images: every position has ||x||^2/C0 = q exactly, inputs
    2i and 2i+1 have cosine rho at every position, positions independent."""
    x = correlated_inputs(B, C0, q=q, rho=rho, positions=H * W, rng=rng)
    return x.reshape(B, H, W, C0).transpose(0, 3, 1, 2)


def direct_forward(net, x):
    """h^L by the definition: pad (wrap or zeros), sum over the k^2 offsets."""
    k, r = net.kernel_size, net.kernel_size // 2
    a = np.asarray(x, np.float64)
    mode = "wrap" if net.padding == "circular" else "constant"
    for l in range(net.depth):
        Wt = net.conv_weights(l).astype(np.float64)  # (C_out, C_in, k, k)
        B, _, H, W = a.shape
        ap = np.pad(a, ((0, 0), (0, 0), (r, r), (r, r)), mode=mode)
        h = np.zeros((B, Wt.shape[0], H, W))
        for i in range(k):
            for j in range(k):
                h += np.einsum("oc,bchw->bohw", Wt[:, :, i, j], ap[:, :, i:i + H, j:j + W])
        h += net.biases[l][None, :, None, None]
        a = net._pw.phi(h, np.empty_like(h))
    return h


# --- exactness ---------------------------------------------------------------------------
@pytest.mark.parametrize("padding", ["circular", "zero"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_forward_is_the_convolution(padding, k):
    net = CNN2d("crelu", 3, 5, 3, 1.8, 0.1, kernel_size=k, padding=padding, rng=1,
                tau=0.2, m=1.0)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    rec = net.forward(x)
    assert rec.output.shape == (2, 5, 6, 7)
    np.testing.assert_allclose(rec.output, direct_forward(net, x), rtol=1e-12, atol=1e-13)
    assert rec.q.shape == (3, 2) and rec.q_map.shape == (3, 6, 7)
    assert rec.sparsity.shape == (3,) and rec.rho.shape == (3, 1)
    assert rec.spatial_rho.shape == (3, 2)
    # the records are what they say, recomputed from h^L
    hL = rec.output
    np.testing.assert_allclose(rec.q[-1], (hL ** 2).mean(axis=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(rec.q_map[-1], (hL ** 2).mean(axis=(0, 1)), rtol=1e-12)
    a, b = hL[0].ravel(), hL[1].ravel()
    assert rec.rho[-1, 0] == pytest.approx(a @ b / np.sqrt((a @ a) * (b @ b)), rel=1e-12)
    phi = net._pw.phi(hL, np.empty_like(hL))
    assert rec.sparsity[-1] == pytest.approx(np.mean(phi == 0), abs=1e-15)
    if padding == "circular":
        hor = np.sum(hL * np.roll(hL, -1, axis=3)) / np.sum(hL * hL)
    else:
        lo, hi = hL[..., :-1], hL[..., 1:]
        hor = np.sum(lo * hi) / np.sqrt(np.sum(lo * lo) * np.sum(hi * hi))
    assert rec.spatial_rho[-1, 0] == pytest.approx(hor, rel=1e-12)


def test_conv_weights_layout_and_init_variances():
    ini = eoc_init("crelu", sparsity=0.7, target_slope=0.7)
    net = CNN2d.from_init(ini, 4, 40, 3, rng=0)
    assert net.weights[0].shape == (9 * 4, 40) and net.weights[1].shape == (9 * 40, 40)
    assert net.conv_weights(1).shape == (40, 40, 3, 3)
    # row ((dy + r) k + dx + r) C_in + c' of weights[l] is W[:, c', dy + r, dx + r]
    np.testing.assert_array_equal(net.conv_weights(1)[:, 7, 2, 0], net.weights[1][(6 * 40) + 7])
    # W ~ N(0, sigma_w^2/(k^2 C_in)), b ~ N(0, sigma_b^2): 14400 and 40 draws
    assert np.var(net.weights[1]) * 9 * 40 == pytest.approx(ini.sigma_w2, rel=0.05)
    assert np.mean(net.biases[1] ** 2) == pytest.approx(ini.sigma_b2, rel=0.7)
    pres = CNN2d.from_init(ini, 4, 40, 3, first_layer="preserve", rng=0)
    assert np.var(pres.weights[0]) * 9 * 4 == pytest.approx(1.0, rel=0.15)
    assert not pres.biases[0].any()
    # q_input scales the first layer by q*/q_in: same draws, factor sqrt(q*/q_in)
    ini2 = eoc_init("crelu", sparsity=0.7, target_slope=0.7, q_star=2.0)
    sc = CNN2d.from_init(ini2, 4, 40, 3, first_layer="preserve", q_input=0.5, rng=0)
    np.testing.assert_allclose(sc.weights[0], 2.0 * pres.weights[0], rtol=1e-15)


@pytest.mark.parametrize("name,params,padding", [
    ("crelu", {"tau": 0.2, "m": 0.7}, "circular"), ("crelu", {"tau": 0.2, "m": 0.7}, "zero"),
    ("cst", {"tau": 0.2, "m": 0.9}, "circular"), ("tanh", {}, "zero")])
def test_backward_matches_finite_differences(name, params, padding):
    # float64, depth 3, C = 4, k = 3, 6x6 images, 2 inputs of 2 channels. Central
    # differences with eps = 1e-6 have error O(eps^2) for smooth phi; for piecewise-linear
    # phi the loss is locally quadratic as long as no pre-activation crosses a kink: a
    # change of eps in one parameter (or input) moves a pre-activation by a few eps at most
    # here (|x| < 4, |phi| <= 1.1, |W| < 1.5), so a distance > 2e-5 to every kink (asserted)
    # is enough.
    net = CNN2d(name, 2, 4, 3, 1.7, 0.1, kernel_size=3, padding=padding, rng=3, **params)
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 6))
    rec = net.forward(x)
    if name in ("crelu", "cst"):
        kinks = np.array([params["tau"], params["tau"] + params["m"]])
        kinks = np.concatenate([kinks, -kinks]) if name == "cst" else kinks
        hs = np.concatenate([h.ravel() for h in net._ws[(2, 6, 6, True)]["H"]])
        assert np.abs(hs[:, None] - kinks).min() > 2e-5
    y = np.random.default_rng(5).standard_normal(rec.output.shape)
    back = net.backward(target=y)
    assert back.loss == pytest.approx(net.loss(x, y), rel=1e-13)
    gw = [g.copy() for g in back.grad_w]
    gb = [g.copy() for g in back.grad_b]
    gx = back.grad_input
    eps = 1e-6

    def fd(P, f):
        out = np.empty_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            lp = f()
            P[idx] = old - eps
            lm = f()
            P[idx] = old
            out[idx] = (lp - lm) / (2 * eps)
        return out

    for params_, grads in ((net.weights, gw), (net.biases, gb)):
        for P, G in zip(params_, grads):
            np.testing.assert_allclose(G, fd(P, lambda: net.loss(x, y)), rtol=1e-6,
                                       atol=1e-7 * np.abs(G).max())
    np.testing.assert_allclose(gx, fd(x, lambda: net.loss(x, y)), rtol=1e-6,
                               atol=1e-7 * np.abs(gx).max())
    np.testing.assert_allclose(back.grad_w_norm, [np.linalg.norm(g) for g in gw], rtol=1e-12)
    np.testing.assert_allclose(back.grad_b_norm, [np.linalg.norm(g) for g in gb], rtol=1e-12)
    assert back.grad_h_norm[-1] == pytest.approx(np.linalg.norm(rec.output - y), rel=1e-12)
    # grad_output = h^L - y is the same backward pass
    net.forward(x)
    b2 = net.backward(grad_output=rec.output - y)
    np.testing.assert_allclose(b2.grad_w_norm, back.grad_w_norm, rtol=1e-12)
    assert np.isnan(b2.loss)


def test_padding_shapes_and_border_variance():
    # circular and zero padding: same shapes, different border statistics. With the
    # preserving first layer (b = 0, W ~ N(0, 1/(9 C0))) and ||x(a)||^2/C0 = 1 at every
    # position, E[h^1_x^2] = (number of window positions inside the image)/9: 1 everywhere
    # (circular), 6/9 on an edge and 4/9 in a corner (zero). Each entry of q_map is a mean
    # over 64 channels x 8 inputs x 8 seeds with relative sd ~ sqrt(2/(64 x 8)) = 0.06 per
    # seed (weights shared over the batch), 0.02 for the 8-seed mean; 0.1 is 5 sd.
    x = images(8, 16, 8, 9)
    maps_ = {}
    for pad in ("circular", "zero"):
        qm = []
        for k in range(8):
            net = CNN2d("relu", 16, 64, 2, 2.0, 0.0, padding=pad, first_layer="preserve",
                        rng=seed_rng(7, k))
            rec = net.forward(x, keep=False)
            assert rec.output.shape == (8, 64, 8, 9) and rec.q_map.shape == (2, 8, 9)
            qm.append(rec.q_map[0])
        maps_[pad] = np.mean(qm, axis=0)
    circ, zero = maps_["circular"], maps_["zero"]
    np.testing.assert_allclose(circ, 1.0, atol=0.1)
    np.testing.assert_allclose(zero[1:-1, 1:-1], 1.0, atol=0.1)
    for corner in (zero[0, 0], zero[0, -1], zero[-1, 0], zero[-1, -1]):
        assert corner == pytest.approx(4 / 9, abs=0.1)
    edges = np.concatenate([zero[0, 1:-1], zero[-1, 1:-1], zero[1:-1, 0], zero[1:-1, -1]])
    assert edges.mean() == pytest.approx(6 / 9, abs=0.05)


def test_float32_runs_in_float32():
    net = CNN2d("crelu", 3, 8, 3, 2.0, 0.1, dtype=np.float32, rng=0, tau=0.3, m=1.0)
    ref = CNN2d("crelu", 3, 8, 3, 2.0, 0.1, dtype=np.float64, rng=0, tau=0.3, m=1.0)
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 5))
    assert net.weights[0].dtype == np.float32
    rec = net.forward(x)
    assert rec.output.dtype == np.float32
    back = net.backward(target=np.zeros_like(rec.output))
    assert back.grad_w[0].dtype == np.float32
    # the same network in float64 (weights copied): float32 round-off only
    for l in range(ref.depth):
        ref.weights[l][...] = net.weights[l]
        ref.biases[l][...] = net.biases[l]
    np.testing.assert_allclose(rec.output, ref.forward(x).output, rtol=1e-4, atol=1e-5)


def test_custom_activation_from_string():
    # CReLU written by a user: generated kernels; same network as the catalogue's (same seed)
    act = Activation.from_string("Piecewise((0, x <= tau), (x - tau, x < tau + m), (m, True))",
                                 name="myclip")
    a = CNN2d(act, 2, 6, 3, 2.2, 0.2, rng=5, tau=0.3, m=1.1)
    b = CNN2d("crelu", 2, 6, 3, 2.2, 0.2, rng=5, kernel="hand", tau=0.3, m=1.1)
    assert a._pw.generated and not b._pw.generated
    x = np.random.default_rng(0).standard_normal((3, 2, 6, 5))
    ra, rb = a.forward(x), b.forward(x)
    np.testing.assert_allclose(ra.output, rb.output, rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(ra.sparsity, rb.sparsity)
    y = np.zeros_like(ra.output)
    np.testing.assert_allclose(a.backward(target=y).grad_input,
                               b.backward(target=y).grad_input, rtol=1e-12, atol=1e-14)


# --- Monte Carlo against the infinite-width maps -----------------------------------------
K_SEEDS, DEPTH, CH = 16, 10, 64


@pytest.fixture(scope="module")
def crelu():
    return eoc_init("crelu", sparsity=0.7, target_slope=0.7)


def test_variance_and_sparsity_follow_the_maps(crelu):
    # CReLU on the EoC (s = 0.7, V'(q*) = 0.7), first layer "standard" with q_in = 2, so
    # q^1 = sigma_w^2 q_in + sigma_b^2 ~ 7.6 and q^l relaxes to q* = 1 along V (eq. 3);
    # 16 seeds x 8 inputs, 16 -> 64 channels, 8x8 circular, depth 10.
    ini, L = crelu, DEPTH
    qin = 2.0
    x = images(8, 16, 8, 8, q=qin)
    q, sp = np.empty((K_SEEDS, L)), np.empty((K_SEEDS, L))
    for k in range(K_SEEDS):
        rec = CNN2d.from_init(ini, 16, CH, L, rng=seed_rng(1, k)).forward(x, keep=False)
        q[k], sp[k] = rec.q.mean(axis=1), rec.sparsity
    th = [ini.sigma_w2 * qin + ini.sigma_b2]
    for _ in range(L - 1):
        th.append(float(eoc.variance_map(ini.activation, th[-1], ini.sigma_w2, ini.sigma_b2)))
    th = np.array(th)
    # The seed spread of q^l is ~ sqrt(2/C) = 0.18 relative per layer (the biases and the
    # weight norms of 64 channels; positions become correlated with depth so they add
    # little), damped by V'(q*) = 0.7: relative sd ~ 0.18 / sqrt(1 - 0.49) = 0.25 per
    # seed (measured: up to 0.36), se <= 0.09 for 16 seeds (asserted below 0.15, so the
    # test has teeth). Tolerance: 5 se from the seeds plus 2% for the O(1/C) finite-width
    # bias of the mean (measured deviations are below 0.45 of it).
    se = q.std(axis=0, ddof=1) / np.sqrt(K_SEEDS)
    assert np.all(se < 0.15 * th)
    assert np.all(np.abs(q.mean(axis=0) - th) < 5 * se + 0.02 * th)
    assert abs(q.mean(axis=0)[-1] - ini.q_star) < 0.15  # reached q* = 1
    # sparsity: against eq. 12 at each seed's measured q^l (the channels, with their own
    # biases, are the independent units: se from the seeds, ~0.01 here), and against the
    # theory along the iterated map.
    s_q = eoc.sparsity(ini.activation, q)
    d = sp - s_q
    se_s = d.std(axis=0, ddof=1) / np.sqrt(K_SEEDS)
    assert np.all(se_s < 0.02)
    assert np.all(np.abs(d.mean(axis=0)) < 5 * se_s + 0.005)
    np.testing.assert_allclose(sp.mean(axis=0), eoc.sparsity(ini.activation, th), atol=0.04)
    assert sp.mean(axis=0)[-1] == pytest.approx(ini.sparsity, abs=0.04)


def test_correlations_follow_the_correlation_map(crelu):
    # First layer "preserve" at q_in = q* = 1: q^l = q* throughout, and both the correlation
    # of two inputs (0.5 at the input) and that of horizontally / vertically neighbouring
    # positions (the input's own lag correlation, ~0: positions independent) follow
    # c^{l+1} = R(c^l) (eq. 6; circular padding makes every lag evolve on its own).
    ini, L = crelu, DEPTH
    x = images(8, 16, 8, 8, q=1.0, rho=0.5)
    xl = x.transpose(0, 2, 3, 1)
    c0 = [np.sum(xl * np.roll(xl, -1, axis=a)) / np.sum(xl * xl) for a in (2, 1)]
    rho, srho, q = np.empty((K_SEEDS, L)), np.empty((K_SEEDS, L, 2)), np.empty((K_SEEDS, L))
    for k in range(K_SEEDS):
        net = CNN2d.from_init(ini, 16, CH, L, first_layer="preserve", rng=seed_rng(2, k))
        rec = net.forward(x, keep=False)
        rho[k], srho[k], q[k] = rec.rho.mean(axis=1), rec.spatial_rho, rec.q.mean(axis=1)
    r = [0.5]
    c = [list(c0)]
    for _ in range(L - 1):
        r.append(float(correlation_map(ini.activation, r[-1], ini.sigma_w2, ini.sigma_b2)))
        c.append([float(correlation_map(ini.activation, v, ini.sigma_w2, ini.sigma_b2))
                  for v in c[-1]])
    r, c = np.array(r), np.array(c)
    assert abs(q[:, 0].mean() - 1.0) < 0.02  # preserved: q^1 = q_in = q*
    # seed spread: rho ~0.03, spatial ~0.05 per seed; 5 se + 0.01 finite-width bias
    se_r = rho.std(axis=0, ddof=1) / np.sqrt(K_SEEDS)
    se_c = srho.std(axis=0, ddof=1) / np.sqrt(K_SEEDS)
    assert np.all(se_r < 0.02) and np.all(se_c < 0.03)
    assert np.all(np.abs(rho.mean(axis=0) - r) < 5 * se_r + 0.01)
    assert np.all(np.abs(srho.mean(axis=0) - c) < 5 * se_c + 0.01)


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel_size=4), "kernel_size"), (dict(kernel_size=0), "kernel_size"),
    (dict(padding="reflect"), "padding"), (dict(first_layer="x"), "first_layer"),
    (dict(dtype=np.int32), "dtype"), (dict(q_input=2.0), "q_input"),
    (dict(channels=0), "channels"), (dict(depth=2.5), "depth"),
    (dict(in_channels=-1), "in_channels"), (dict(sigma_w2=0.0), "sigma_w2"),
    (dict(sigma_b2=-1.0), "sigma_b2")])
def test_bad_arguments_name_the_parameter(kwargs, match):
    args = dict(in_channels=3, channels=4, depth=2, sigma_w2=2.0, sigma_b2=0.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CNN2d("relu", **args)


def test_bad_input_names_the_parameter():
    net = CNN2d("relu", 3, 4, 2, 2.0, 0.0, kernel_size=5, rng=0)
    for bad in (np.zeros((2, 3, 8)), np.zeros((2, 4, 8, 8)), np.zeros((3, 8, 8, 3))):
        with pytest.raises(ValueError, match="x must have shape"):
            net.forward(bad)
    with pytest.raises(ValueError, match="x: .*image at least 3x3"):
        net.forward(np.zeros((2, 3, 2, 8)))
    with pytest.raises(ValueError, match="pairs"):
        net.forward(np.zeros((2, 3, 8, 8)), pairs=[[0, 5]])
    with pytest.raises(ValueError, match="backward needs"):
        net.backward(target=np.zeros((2, 4, 8, 8)))
    rec = net.forward(np.ones((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="target must have the output's shape"):
        net.backward(target=np.zeros((2, 4, 8)))
    with pytest.raises(ValueError, match="grad_output"):
        net.backward(grad_output=np.zeros((1, 4, 8, 8)))
    with pytest.raises(ValueError, match="exactly one"):
        net.backward()
    assert net.backward(grad_output=np.zeros_like(rec.output)).grad_w_norm.shape == (2,)


def test_memory_limit_is_checked_before_allocating(monkeypatch):
    monkeypatch.setenv("EOCTHEORY_MAX_MEMORY", "8M")
    with pytest.raises(ValueError, match=r"channels=512.*memory"):
        CNN2d("relu", 3, 512, 4, 2.0, 0.0)
    net = CNN2d("relu", 3, 16, 4, 2.0, 0.0, rng=0)
    x_ok = np.zeros((2, 3, 8, 8))
    net.forward(x_ok)
    big = np.zeros((64, 3, 32, 32))  # im2col alone: 64*32*32*9*16*8 bytes = 75 MB
    nbytes, _ = estimate_cnn2d(batch=64, height=32, width=32, in_channels=3, channels=16,
                               depth=4, kernel_size=3, keep=False)
    assert nbytes > 64 * 32 * 32 * 9 * 16 * 8
    with pytest.raises(ValueError, match=r"batch=64, image 32x32.*lower the batch"):
        net.forward(big, keep=False)
    net.forward(x_ok)  # the network still works
