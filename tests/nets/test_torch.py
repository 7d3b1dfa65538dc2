"""The optional torch backend: activations, EoC initialisation, monitors, training harness.

Skipped as a whole (with the reason) when torch is not installed. Networks are tiny and
runs take a few steps, so the file runs in a few seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install 'eoctheory[torch]')")

import eoctheory as eoc  # noqa: E402
from eoctheory.nets import Network, correlated_inputs, eoc_init  # noqa: E402
from eoctheory.nets import torch as et  # noqa: E402

from registry import tau_for  # noqa: E402

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"

# (module, catalogue name, parameters) at sane points
POINTS = [
    (et.ReLUTau(0.7), "relu", {"tau": 0.7}),
    (et.STTau(0.3), "st", {"tau": 0.3}),
    (et.CReLU(0.5, 1.0), "crelu", {"tau": 0.5, "m": 1.0}),
    (et.CST(0.5, 1.5), "cst", {"tau": 0.5, "m": 1.5}),
    (et.ReLUTau(0.0), "relu", {"tau": 0.0}),
]


# ------------------------------------------------------------------------------------------
# Activations and gradients
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mod,name,params", POINTS)
def test_activation_values_and_gradients_match_the_symbolic_definition(mod, name, params):
    act = eoc.get_activation(name, **params)
    x = torch.linspace(-4, 4, 8001, dtype=torch.float64, requires_grad=True)
    y = mod(x)
    np.testing.assert_allclose(y.detach().numpy(), act(x.detach().numpy()), atol=1e-15)
    (g,) = torch.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(g.numpy(), act.derivative(x.detach().numpy()), atol=0)
    assert mod.to_activation().values == act.values


@pytest.mark.parametrize("mod,name,params", POINTS)
def test_gradient_is_zero_on_flat_parts_and_at_kinks(mod, name, params):
    tau, m = params["tau"], params.get("m")
    flat = [tau - 0.1 * (tau > 0), tau]  # below/at the threshold
    if name in ("st", "cst"):
        flat += [-tau]
    if m is not None:
        flat += [tau + m, tau + m + 3.0]  # at / above the clip
    if name == "cst":
        flat += [-(tau + m), -(tau + m + 3.0)]
    x = torch.tensor(flat, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(mod(x).sum(), x)
    assert torch.all(g == 0), (name, flat, g)
    slope = torch.tensor([tau + 0.25 * (m or 1.0)], dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(mod(slope).sum(), slope)
    assert float(g1) == 1.0


def test_gradcheck_away_from_kinks():
    x = torch.tensor([-3.0, -1.2, -0.2, 0.9, 1.3, 4.0], dtype=torch.float64,
                     requires_grad=True)
    for fn in (lambda t: et.relu_tau(t, 0.5), lambda t: et.st_tau(t, 0.5),
               lambda t: et.crelu(t, 0.5, 1.0), lambda t: et.cst(t, 0.5, 1.0)):
        assert torch.autograd.gradcheck(fn, (x,))


def test_activations_work_in_float32_and_keep_dtype():
    x = torch.randn(5, 7)
    for mod, _, _ in POINTS:
        assert mod(x).dtype == torch.float32


@pytest.mark.parametrize("cls,name", [(et.ReLUTau, "relu"), (et.STTau, "st"),
                                      (et.CReLU, "crelu"), (et.CST, "cst")])
@pytest.mark.parametrize("q_star", [1.0, 2.5])
def test_from_sparsity_threshold_and_measured_sparsity(cls, name, q_star):
    s = 0.7
    mod = cls.from_sparsity(s, q_star=q_star)
    assert mod.tau == pytest.approx(tau_for(name, s, q_star), rel=1e-12)
    if cls.has_m:  # m from V'(q*) = 0.7 (Sec. 3.1)
        assert mod.eoc(q_star).variance_slope == pytest.approx(0.7, abs=1e-10)
    z = torch.randn(200_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = float((mod(z * q_star ** 0.5) == 0).double().mean())
    assert abs(got - s) < 5 * np.sqrt(s * (1 - s) / z.numel())  # binomial 5 sigma


def test_constructors_reject_bad_input_naming_the_parameter():
    with pytest.raises(ValueError, match="tau"):
        et.ReLUTau(-1.0)
    with pytest.raises(ValueError, match="m"):
        et.CReLU(0.5, 0.0)
    with pytest.raises(ValueError, match="target_slope"):
        et.ReLUTau.from_sparsity(0.6, target_slope=0.7)
    with pytest.raises(ValueError, match="sparsity"):
        et.ReLUTau.from_sparsity(0.3)  # ReLU_tau is at least 50% sparse
    with pytest.raises(ValueError, match="activation"):
        et.make_activation("gelu", sparsity=0.5)
    with pytest.raises(ValueError, match="first_layer"):
        et.eoc_init_(et.dnn(4, 4, 2), "plain_relu", first_layer="bogus")
    with pytest.raises(ValueError, match="width"):
        et.dnn(4, width=0, depth=2)
    with pytest.raises(ValueError, match="kernel_size"):
        et.cnn(3, 4, 2, kernel_size=2)


# ------------------------------------------------------------------------------------------
# Initialisation statistics
# ------------------------------------------------------------------------------------------
def test_eoc_init_weight_and_bias_statistics_dnn():
    act = et.CReLU.from_sparsity(0.85, target_slope=0.7)
    model = et.dnn(400, width=400, depth=4, n_classes=10, activation=act)
    ini = et.eoc_init_(model, act, generator=torch.Generator().manual_seed(0))
    ref = eoc_init("crelu", sparsity=0.85, target_slope=0.7)
    assert ini.sigma_w2 == pytest.approx(ref.sigma_w2, rel=1e-12)
    assert ini.sigma_b2 == pytest.approx(ref.sigma_b2, rel=1e-12)
    layers = et.weight_layers(model)
    assert len(layers) == 5
    n = 400 * 400
    # first layer preserves the input variance: W ~ N(0, 1/N_0), b = 0 (App. D)
    w0 = layers[0].weight.detach().double()
    assert float(w0.var() * 400) == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))
    assert torch.all(layers[0].bias == 0)
    for layer in layers[1:-1]:
        w = layer.weight.detach().double()
        assert float(w.var() * 400 / ini.sigma_w2) == pytest.approx(1.0, abs=5 * np.sqrt(2 / n))
        b = layer.bias.detach().double()
        assert float(b.square().mean() / ini.sigma_b2) == pytest.approx(1.0, abs=5 * np.sqrt(2 / 400))


def test_eoc_init_conv_fan_in_and_standard_first_layer():
    model = et.cnn(16, channels=64, depth=3, activation=et.STTau.from_sparsity(0.6))
    ini = et.eoc_init_(model, model[1], first_layer="standard",
                       generator=torch.Generator().manual_seed(0))
    for conv in et.weight_layers(model)[:3]:
        fan_in = conv.weight.shape[1] * 9
        v = float(conv.weight.detach().double().var() * fan_in / ini.sigma_w2)
        assert v == pytest.approx(1.0, abs=5 * np.sqrt(2 / conv.weight.numel()))
    assert float(model[0].bias.detach().abs().max()) > 0  # standard: layer 1 has a bias too


def test_eoc_init_by_name_with_sparsity_and_reproducible_with_generator():
    a, b = et.dnn(10, 20, 3), et.dnn(10, 20, 3)
    ia = et.eoc_init_(a, "cst", sparsity=0.7, target_slope=0.5,
                      generator=torch.Generator().manual_seed(3))
    et.eoc_init_(b, "cst", sparsity=0.7, target_slope=0.5,
                 generator=torch.Generator().manual_seed(3))
    assert ia.variance_slope == pytest.approx(0.5, abs=1e-10)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


# ------------------------------------------------------------------------------------------
# Agreement with the NumPy reference network
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kw", [("crelu", dict(sparsity=0.7, target_slope=0.7)),
                                     ("st", dict(sparsity=0.6)),
                                     ("cst", dict(sparsity=0.85, target_slope=0.9))])
@pytest.mark.parametrize("kernel", [1, 3])
def test_copied_reference_network_gives_identical_layer_statistics(name, kw, kernel):
    """Same seed and parameters: per-layer q, sparsity and gradient norms agree to round-off."""
    ini = eoc_init(name, **kw)
    net = Network.from_init(ini, [24, 32, 32, 32, 16], kernel_size=kernel,
                            first_layer="preserve", rng=5)
    x = correlated_inputs(6, 24, q=1.0, rho=0.3, rng=2, positions=None if kernel == 1 else 7)
    rec = net.forward(x)
    target = np.random.default_rng(0).standard_normal(rec.output.shape)
    back = net.backward(target=target)
    model = et.from_reference(net)
    xt = torch.from_numpy(x if kernel == 1 else np.ascontiguousarray(x.transpose(0, 2, 1)))
    st = et.layer_stats(model, xt, activation=et.make_activation(name, **ini.params))
    np.testing.assert_allclose(st.q, rec.q, rtol=1e-12)
    np.testing.assert_allclose(st.sparsity, rec.sparsity, atol=0)
    mon = et.GradientMonitor(model)
    out = model(xt)
    tgt = torch.from_numpy(target if kernel == 1 else
                           np.ascontiguousarray(target.transpose(0, 2, 1)))
    (0.5 * (out - tgt).square().sum()).backward()
    row = mon.step()
    mon.remove()
    np.testing.assert_allclose(row["weight"], back.grad_w_norm, rtol=1e-10)
    np.testing.assert_allclose(row["delta"], back.grad_h_norm, rtol=1e-10)


def test_eoc_init_matches_reference_statistics_within_monte_carlo_error():
    """Independent draws (torch vs NumPy generators), width 1000: the same law per layer."""
    ini = eoc_init("crelu", sparsity=0.85, target_slope=0.7)
    act = et.CReLU.from_init(ini)
    W, L, seeds = 1000, 6, 3
    x = correlated_inputs(4, W, q=1.0, rho=0.5, rng=0)
    tq, ts, rq, rs = [], [], [], []
    for k in range(seeds):
        model = et.dnn(W, W, L - 1, n_classes=W, activation=act).double()
        et.eoc_init_(model, ini, generator=torch.Generator().manual_seed(k))
        st = et.layer_stats(model, torch.from_numpy(x), activation=act)
        tq.append(st.q.mean(1))
        ts.append(st.sparsity)
        rec = Network.from_init(ini, [W] * (L + 1), first_layer="preserve",
                                rng=np.random.default_rng(100 + k)).forward(x)
        rq.append(rec.q.mean(1))
        rs.append(rec.sparsity)
    tq, ts, rq, rs = map(np.array, (tq, ts, rq, rs))
    # finite-width fluctuation of q^l is O(1/sqrt(N)) per layer, accumulating; 4 inputs,
    # 3 seeds: a tolerance of 0.06 is > 5 standard errors (measured spread ~0.01)
    np.testing.assert_allclose(tq.mean(0), rq.mean(0), atol=0.06)
    np.testing.assert_allclose(ts.mean(0), rs.mean(0), atol=0.015)
    np.testing.assert_allclose(ts.mean(0), 0.85, atol=0.02)  # eq. 12 at q* = 1


# ------------------------------------------------------------------------------------------
# Monitors
# ------------------------------------------------------------------------------------------
def test_sparsity_monitor_counts_zeros_and_removes_its_hooks():
    act = et.ReLUTau.from_sparsity(0.7)
    model = et.dnn(20, width=50, depth=3, activation=act)
    et.eoc_init_(model, act, generator=torch.Generator().manual_seed(0))
    x = torch.randn(16, 20)
    mon = et.SparsityMonitor(model)
    with torch.no_grad():
        model(x)
        h = x
        expected = []
        for mod in model:
            h = mod(h)
            if isinstance(mod, et.SparseActivation):
                expected.append(float((h == 0).float().mean()))
    # the manual pass above ran the modules again, so each layer was counted twice
    np.testing.assert_allclose(mon.sparsity(), expected, atol=1e-7)
    assert mon.mean() == pytest.approx(np.mean(expected), abs=1e-7)
    mon.reset()
    assert np.all(np.isnan(mon.sparsity()))
    mon.enabled = False
    model(x)
    assert np.all(np.isnan(mon.sparsity()))
    mon.remove()
    assert all(len(m._forward_hooks) == 0 for m in model)


def test_gradient_monitor_matches_parameter_gradients():
    act = et.CST.from_sparsity(0.6)
    model = et.dnn(12, width=30, depth=4, activation=act)
    et.eoc_init_(model, act, generator=torch.Generator().manual_seed(1))
    with et.GradientMonitor(model) as mon:
        for _ in range(3):
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(torch.randn(8, 12)),
                                              torch.randint(0, 10, (8,))).backward()
            mon.step()
        g = mon.array("weight")
        assert g.shape == (3, 5)
        want = [float(m.weight.grad.norm()) for m in et.weight_layers(model)]
        np.testing.assert_allclose(g[-1], want, rtol=1e-6)
        assert np.all(np.isfinite(mon.array("delta")))
    assert all(len(m._forward_hooks) == 0 for m in et.weight_layers(model))


# ------------------------------------------------------------------------------------------
# Training harness
# ------------------------------------------------------------------------------------------
def test_train_end_to_end_on_digits(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn not installed")
    import matplotlib

    matplotlib.use("Agg")
    from eoctheory.experiments.train import TrainConfig, train

    cfg = TrainConfig(activation="crelu", sparsity=0.7, target_slope=0.7, depth=6, width=48,
                      epochs=2, lr=0.05, batch_size=32, dataset="digits", seed=1,
                      out=str(tmp_path / "run"), progress=False, grad_steps=5)
    s = train(cfg)
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2]
    for r in lines:
        assert set(r) >= {"train_loss", "val_acc", "test_acc", "test_sparsity"}
    assert s["n_val"] == pytest.approx(0.1 * (s["n_train"] + s["n_val"]), abs=1)
    assert abs(lines[0]["test_sparsity"] - 0.7) < 0.06  # the initial sparsity is the target
    assert s["test_acc"] > 0.3 and not s["diverged"]  # it learns something in 2 epochs
    g = json.loads((tmp_path / "run" / "gradnorms.json").read_text())
    assert np.array(g["weight"]).shape == (5, 7)
    assert (tmp_path / "run" / "gradnorms.png").stat().st_size > 1000


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not at {MNIST_DIR}")
def test_train_cli_on_a_tiny_mnist_subset(tmp_path):
    env = dict(os.environ, EOCTHEORY_DATA=str(MNIST_DIR), MPLBACKEND="Agg",
               PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    out = tmp_path / "m"
    r = subprocess.run([sys.executable, "-m", "eoctheory.experiments.train", "--activation", "cst",
                        "--sparsity", "0.85", "--target-slope", "0.7", "--depth", "4",
                        "--width", "32", "--epochs", "1", "--dataset", "mnist", "--seed", "2",
                        "--limit", "600", "--test-limit", "200", "--threads", "1",
                        "--no-progress", "--out", str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "test sparsity" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    assert (s["n_train"], s["n_val"], s["n_test"]) == (540, 60, 200)
    # logs carry a portable path (relative, or the folder's name), never the machine's
    assert s["data_source"].endswith("mnist") and not Path(s["data_source"]).is_absolute()


@pytest.mark.parametrize("argv,word", [
    (["--activation", "relu", "--sparsity", "0.6", "--target-slope", "0.7"], "target_slope"),
    (["--activation", "custom"], "needs expr"),
    (["--activation", "crelu", "--sparsity", "1.5"], "sparsity"),
    (["--activation", "relu", "--sparsity", "0.6", "--epochs", "-1"], "epochs"),
    (["--activation", "tanh", "--sparsity", "0.5"], "no threshold tau"),
    (["--activation", "relu", "--sparsity", "0.6", "--dataset", "cifar"], "dataset"),
    (["--activation", "relu", "--sparsity", "0.6", "--data-dir", "/nonexistent/x"], "looked in"),
])
def test_train_cli_bad_input_one_line_exit_2(argv, word, capsys, monkeypatch, tmp_path):
    from eoctheory.experiments.train import main

    monkeypatch.setenv("EOCTHEORY_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("eoctheory.experiments.data.MNIST_MIRRORS", ("http://127.0.0.1:9/",))
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv + ["--no-progress", "--depth", "2", "--width", "8"])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and word in err, err
