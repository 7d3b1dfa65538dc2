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


# --- broken files, bad arguments, failed downloads (issue 11) ----------------------------
def _idx(shape: tuple, payload: bytes | None = None, code: int = 0x08) -> bytes:
    head = bytes([0, 0, code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    return head + (bytes(int(np.prod(shape))) if payload is None else payload)


def _write_set(d: Path, files: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for stem, raw in files.items():
        with gzip.open(d / (stem + ".gz"), "wb") as f:
            f.write(raw)


def test_truncated_gzip_names_the_file(isolated):
    d = isolated / "trunc"
    _write_set(d, {stem: _idx((3,)) for stem in D.MNIST_MD5})
    victim = d / "train-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-12])  # cut off: the stream ends early
    for verify in (True, False):
        with pytest.raises(ValueError, match="truncated or corrupt gzip") as exc:
            D.load_mnist(d, verify=verify, download=False)
        assert str(victim) in str(exc.value)


@pytest.mark.parametrize("files,text", [
    ({"train-images-idx3-ubyte": _idx((0, 28, 28))}, r"shape \(0, 28, 28\), expected"),
    ({"train-images-idx3-ubyte": _idx((60000, 28, 28), b"")}, "truncated or corrupt"),
    ({"train-images-idx3-ubyte": _idx((60000, 28, 28), code=0x0D)}, "magic"),
    ({"train-images-idx3-ubyte": b"\x00\x00\x08\x03\x00"}, "cut short"),
    ({"train-labels-idx1-ubyte": _idx((60000,), bytes([12]) * 60000)}, "labels above 9"),
])
def test_verify_false_still_checks_the_idx_header(isolated, files, text):
    """verify=False skips the MD5 only: a corrupt file is still refused, naming it."""
    good = {stem: _idx(D.MNIST_SHAPES[stem]) for stem in D.MNIST_MD5}
    d = isolated / "corrupt"
    _write_set(d, {**good, **files})
    with pytest.raises(ValueError, match=text) as exc:
        D.load_mnist(d, verify=False, download=False)
    assert str(d / (next(iter(files)) + ".gz")) in str(exc.value)
    _write_set(isolated / "ok", good)  # the same files, intact: loaded
    ds = D.load_mnist(isolated / "ok", verify=False, download=False)
    assert ds.x_train.shape == (60000, 28, 28) and ds.y_test.shape == (10000,)


def test_bad_mirrors_and_timeout_are_value_errors(isolated):
    with pytest.raises(ValueError, match="mirrors is empty"):
        D.load_mnist(isolated / "nothing", mirrors=[])
    with pytest.raises(ValueError, match="not one string"):
        D.load_mnist(isolated / "nothing", mirrors="http://127.0.0.1:9/")
    with pytest.raises(ValueError, match="timeout"):
        D.load_mnist(isolated / "nothing", timeout=0)


class _FakeResponse:
    """What urlopen returns: ``data``, then ``error`` (a dropped connection) if given."""

    def __init__(self, data: bytes, error: BaseException | None = None):
        self.data, self.error, self.sent = data, error, False

    def read(self, n: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return self.data
        if self.error is not None:
            raise self.error
        return b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("data,error,text", [
    (b"\x1f\x8b" + bytes(100), ConnectionResetError("connection reset"), "connection reset"),
    (gzip.compress(b"not mnist"), None, "MD5 mismatch"),
    (gzip.compress(b"not mnist")[:-5], None, "Compressed file ended"),
])
def test_failed_download_leaves_no_temporary_files(isolated, monkeypatch, data, error, text):
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return _FakeResponse(data, error)

    monkeypatch.setattr(D.urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(D.DataNotFoundError, match=text):
        D.load_mnist(isolated / "nothing", mirrors=["http://mirror.example/mnist"])
    assert calls[0] == "http://mirror.example/mnist/train-images-idx3-ubyte.gz"
    assert len(calls) == 4  # one per file, each refused
    assert list(D.cache_dir().iterdir()) == []  # no orphan temporary files


def test_interrupted_download_removes_its_temporary_file(isolated, monkeypatch):
    monkeypatch.setattr(D.urllib.request, "urlopen",
                        lambda url, timeout: _FakeResponse(b"x" * 1000, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        D.load_mnist(isolated / "nothing")
    assert list(D.cache_dir().iterdir()) == []


@needs_mnist
def test_download_from_a_mirror_lands_atomically(isolated, monkeypatch):
    served = []

    def fake_urlopen(url, timeout):
        name = url.rsplit("/", 1)[1]
        served.append(name)
        return _FakeResponse((MNIST_DIR / name).read_bytes())

    monkeypatch.setattr(D.urllib.request, "urlopen", fake_urlopen)
    ds = D.load_mnist(isolated / "nothing", mirrors=["http://mirror.example/"])
    assert ds.source == str(D.cache_dir().resolve()) and len(ds.y_train) == 60000
    assert sorted(p.name for p in D.cache_dir().iterdir()) == sorted(
        stem + ".gz" for stem in D.MNIST_MD5)
    assert len(served) == 4
