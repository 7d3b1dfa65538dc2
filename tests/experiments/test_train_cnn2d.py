"""``train --arch cnn2d``: the paper's 2-D CNN trained on images kept as images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eoctheory.experiments import train as T

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"  # ../shared/data/mnist (DATA.md)


@pytest.mark.parametrize("shape,out", [((5, 28, 28), (5, 1, 28, 28)),
                                       ((5, 32, 32, 3), (5, 3, 32, 32)),
                                       ((5, 3, 32, 32), (5, 3, 32, 32))])
def test_normalise_keeps_images_channels_first(shape, out):
    x = np.random.default_rng(0).integers(0, 255, size=shape).astype(np.uint8)
    y = T._normalise(x, 2.0, images=True)
    assert y.shape == out
    flat = y.reshape(len(y), -1)
    # per image: zero mean, mean square q* (float32 round-off)
    np.testing.assert_allclose(flat.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose((flat ** 2).mean(axis=1), 2.0, rtol=1e-5)
    if shape[-1] == 3:  # channels-last input: the same pixels, transposed
        ref = T._normalise(x, 2.0).reshape(shape).transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(y, ref)


def test_bad_arch_and_kernel_are_refused():
    with pytest.raises(ValueError, match="arch"):
        T.TrainConfig(arch="resnet").validate()
    with pytest.raises(ValueError, match="kernel_size"):
        T.TrainConfig(arch="cnn2d", kernel_size=4).validate()


def test_cnn_memory_estimate_grows_with_channels():
    small = T.TrainConfig(arch="cnn2d", width=16, depth=10).estimate_memory()
    big = T.TrainConfig(arch="cnn2d", width=300, depth=50).estimate_memory()
    # the paper's CNN: 50 x 300 channels x 1024 positions x (3 x 64 + 2 x 100) float32
    # activations alone are 24 GB: the estimate must see that before any allocation
    assert big > 2e10 > small


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not at {MNIST_DIR}")
def test_tiny_cnn_trains_on_mnist_images(tmp_path):
    pytest.importorskip("torch")
    cfg = T.TrainConfig(activation="crelu", sparsity=0.7, arch="cnn2d", depth=3, width=64,
                        epochs=1, limit=200, test_limit=100, data_dir=str(MNIST_DIR),
                        progress=False, out=str(tmp_path), grad_steps=3)
    s = T.train(cfg)
    assert s["setting"].startswith("cnn2d-crelu") and not s["diverged"]
    assert s["n_test"] == 100 and 0.0 <= s["test_acc"] <= 1.0
    # Layer 1 of a CNN sees the local energy of a 3x3 patch, not the image's: with the
    # variance-preserving first layer h^1(a) ~ N(0, q_loc(a)), q_loc = circular 3x3 mean of
    # x^2, so its sparsity is the mean of s(q_loc) over positions (MNIST's flat background
    # makes it ~0.84, not 0.7); deeper layers mix positions and relax to the target.
    # Tolerance 0.03: each channel's 9 first-layer weights make its own sparsity vary
    # (sd ~0.1 per channel), so the mean of 64 channels has sd ~0.0125.
    import eoctheory as eoc
    from scipy.ndimage import uniform_filter

    from eoctheory.experiments.data import load_dataset

    x = T._normalise(load_dataset("mnist", str(MNIST_DIR)).x_test[:100], 1.0, images=True)
    q_loc = uniform_filter(x[:, 0] ** 2, size=(1, 3, 3), mode="wrap")
    st = cfg.setting()
    pred = float(np.mean(eoc.sparsity(st.activation, np.maximum(q_loc, 1e-100), **st.params)))
    layers = s["history"][0]["test_sparsity_layers"]
    assert layers[0] == pytest.approx(pred, abs=0.03)
    assert pred > 0.8 and layers[-1] == pytest.approx(0.7, abs=0.04)
    assert (tmp_path / "gradnorms.json").exists() and (tmp_path / "gradnorms.png").exists()
