"""The data loader (eoctheory.experiments.data): search order, checksums, clear errors. No torch needed."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eoctheory.experiments import data as D

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO.parent / "shared" / "data" / "mnist"  # ../shared/data/mnist (DATA.md)
needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"MNIST not at {MNIST_DIR}")


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, an empty cache, and mirrors that refuse at once (no network in tests)."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "MNIST_MIRRORS", ("http://127.0.0.1:9/",))
    return tmp_path


@needs_mnist
def test_mnist_from_directory_argument(isolated):
    ds = D.load_mnist(MNIST_DIR)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train.shape == (60000,) and set(np.unique(ds.y_test)) == set(range(10))
    assert ds.n_classes == 10
    assert np.bincount(ds.y_train)[1] == 6742  # the published class count of "1"


@needs_mnist
def test_mnist_from_environment_variable_and_parent_directory(isolated, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(MNIST_DIR.parent))  # holds mnist/
    ds = D.load_mnist()
    assert ds.source == str(MNIST_DIR.resolve())


@needs_mnist
def test_mnist_from_user_cache(isolated):
    cache = D.cache_dir()
    assert str(cache).startswith(str(isolated / "cache"))
    cache.mkdir(parents=True)
    for stem in D.MNIST_MD5:  # uncompressed files are accepted too
        src = MNIST_DIR / (stem + ".gz")
        if stem.endswith("labels-idx1-ubyte"):
            with gzip.open(src) as f:
                (cache / stem).write_bytes(f.read())
        else:
            shutil.copy(src, cache / (stem + ".gz"))
    ds = D.load_mnist(download=False)
    assert ds.source == str(cache.resolve())
    assert len(ds.y_test) == 10000


def test_missing_data_error_lists_where_it_looked(isolated, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(isolated / "envdir"))
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load_mnist(isolated / "argdir", timeout=2)
    msg = str(exc.value)
    for place in ("argdir", "envdir", str(D.cache_dir()), "127.0.0.1:9"):
        assert place in msg
    assert isinstance(exc.value, FileNotFoundError)
    with pytest.raises(D.DataNotFoundError, match="download disabled"):
        D.load_mnist(isolated / "argdir", download=False)


def test_checksum_mismatch_is_reported(isolated):
    bad = isolated / "bad"
    bad.mkdir()
    for stem in D.MNIST_MD5:
        header = b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc"
        with gzip.open(bad / (stem + ".gz"), "wb") as f:
            f.write(header)
    with pytest.raises(ValueError, match="MD5"):
        D.load_mnist(bad)


def test_digits_and_dataset_names():
    pytest.importorskip("sklearn", reason="scikit-learn not installed")
    ds = D.load_dataset("digits")
    assert ds.x_train.shape[1:] == (8, 8) and len(ds.y_train) + len(ds.y_test) == 1797
    with pytest.raises(ValueError, match="dataset"):
        D.load_dataset("cifar")


def test_split_validation_holds_out_ten_percent():
    tr, va = D.split_validation(1000, 0.1, seed=0)
    assert len(va) == 100 and len(tr) == 900
    assert not set(tr) & set(va)
    with pytest.raises(ValueError, match="fraction"):
        D.split_validation(10, 1.5)


def test_importing_eoctheory_imports_neither_torch_nor_dask():
    code = ("import sys, eoctheory, eoctheory.nets, eoctheory.experiments.data; "
            "print(any(m in sys.modules for m in ('torch', 'dask', 'sklearn')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
