"""CIFAR-10 and Fashion-MNIST loaders (eoctheory.experiments.data), without any network.

The tests write small data sets in the official formats themselves: a
``cifar-10-python.tar.gz`` with 20-image batches (pickled dicts with bytes keys, one of them
written byte by byte as Python 2's cPickle wrote the real ones), and tiny IDX files. Checksums
are those of these files (monkeypatched), and downloads are served by a fake ``urlopen``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from eoctheory.experiments import data as D

N = 20  # images per fake CIFAR batch
FOLDER = "cifar-10-batches-py"
NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
         b"ship", b"truck"]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, an empty cache, no system copy, mirrors that refuse at once."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "CIFAR10_MIRRORS", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(D, "FASHION_MNIST_MIRRORS", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(D, "FASHION_MNIST_SYSTEM_DIRS", (str(tmp_path / "no-system"),))
    return tmp_path


class _FakeResponse:
    """What urlopen returns: ``data`` in pieces, then ``error`` if given."""

    def __init__(self, data: bytes, error: BaseException | None = None, piece: int = 4096):
        self.buf, self.error, self.piece = io.BytesIO(data), error, piece

    def read(self, n: int = -1) -> bytes:
        out = self.buf.read(min(self.piece, n) if n and n > 0 else self.piece)
        if not out and self.error is not None:
            raise self.error
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _serve(monkeypatch, data: bytes, error=None) -> list:
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return _FakeResponse(data, error)

    monkeypatch.setattr(D.urllib.request, "urlopen", fake_urlopen)
    return calls


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _leftovers(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*")) if d.exists() else []


# --- fake CIFAR-10 -------------------------------------------------------------------------
def _py2_pickle(data: np.ndarray, labels) -> bytes:
    """A batch as Python 2's cPickle (protocol 2) wrote the official files: str as bytes,
    the array through ``numpy.core.multiarray._reconstruct``."""
    def s(b):
        if len(b) < 256:  # SHORT_BINSTRING, else BINSTRING
            return b"U" + bytes([len(b)]) + b
        return b"T" + struct.pack("<i", len(b)) + b

    def i(v):
        return b"J" + struct.pack("<i", int(v))

    n, m = data.shape
    arr = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85"
           + s(b"b") + b"\x87R(" + i(1) + i(n) + i(m) + b"\x86cnumpy\ndtype\n" + s(b"u1")
           + i(0) + i(1) + b"\x87R(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0)
           + b"tb\x89" + s(data.tobytes()) + b"tb")
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"training batch 1 of 5") + s(b"labels")
            + b"](" + b"".join(i(v) for v in labels) + b"e" + s(b"data") + arr + b"u.")


def _cifar_files(n: int = N) -> tuple[dict, dict]:
    """The seven files (name -> bytes) and the arrays a loader must return."""
    rng = np.random.default_rng(1)
    files, xs, ys = {}, {}, {}
    for k, name in enumerate(D.CIFAR10_TRAIN_BATCHES + ("test_batch",)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(j + k) % 10 for j in range(n)]
        if name == "data_batch_1":
            files[name] = _py2_pickle(data, labels)
        else:  # as Python 3 writes it: bytes keys, a NumPy array, a list of ints
            files[name] = pickle.dumps({b"batch_label": name.encode(), b"labels": labels,
                                        b"data": data, b"filenames": [b"x.png"] * n},
                                       protocol=2 if name == "test_batch" else 4)
        xs[name], ys[name] = data, labels
    files["batches.meta"] = pickle.dumps({b"num_cases_per_batch": n, b"label_names": NAMES,
                                          b"num_vis": 3072}, protocol=2)
    train = D.CIFAR10_TRAIN_BATCHES
    expected = {"x_train": np.concatenate([xs[b] for b in train]),
                "y_train": np.concatenate([ys[b] for b in train]),
                "x_test": xs["test_batch"], "y_test": np.array(ys["test_batch"])}
    return files, expected


def _tarball(files: dict, extra: list | None = None) -> bytes:
    """A gzip tarball laid out like the official one (folder entry, files, readme.html);
    ``extra``: more TarInfo/bytes pairs (evil ones)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        d = tarfile.TarInfo(FOLDER)
        d.type, d.mode = tarfile.DIRTYPE, 0o755
        tf.addfile(d)
        for name, raw in list(files.items()) + [("readme.html", b"<html></html>")]:
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
        for info, raw in extra or []:
            if raw is not None:
                info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw) if raw is not None else None)
    return buf.getvalue()


@pytest.fixture
def cifar(monkeypatch):
    """The fake files, with their MD5s made the official ones."""
    files, expected = _cifar_files()
    monkeypatch.setattr(D, "CIFAR10_FILE_MD5", {k: _md5(files[k]) for k in D.CIFAR10_FILE_MD5})
    return files, expected


def _write(d: Path, files: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (d / name).write_bytes(raw)
    return d


def _check(ds, expected, source: Path | None = None):
    assert ds.name == "cifar10" and ds.n_classes == 10
    assert ds.x_train.shape == (5 * N, 3, 32, 32) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (N, 3, 32, 32) and ds.x_test.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.y_train.shape == (5 * N,) and ds.y_test.shape == (N,)
    np.testing.assert_array_equal(ds.y_train, expected["y_train"])
    np.testing.assert_array_equal(ds.y_test, expected["y_test"])
    # channels first: x[i, c, r, col] is byte c*1024 + r*32 + col of row i
    np.testing.assert_array_equal(ds.x_train.reshape(5 * N, -1), expected["x_train"])
    raw = expected["x_test"]
    assert ds.x_test[3, 2, 5, 7] == raw[3, 2 * 1024 + 5 * 32 + 7]
    assert ds.x_test[0, 0, 31, 0] == raw[0, 31 * 32]
    assert ds.classes[0] == "airplane" and ds.classes[-1] == "truck"
    assert not ds.x_train.flags.writeable
    if source is not None:
        assert ds.source == str(source.resolve())


def test_cifar_from_directory_argument(isolated, cifar):
    files, expected = cifar
    folder = _write(isolated / "arg" / FOLDER, files)
    _check(D.load_cifar10(isolated / "arg", download=False), expected, folder)
    _check(D.load_cifar10(folder, download=False), expected, folder)  # the folder itself
    parent = isolated / "parent"
    _write(parent / "cifar10" / FOLDER, files)  # data_dir/cifar10/cifar-10-batches-py
    _check(D.load_dataset("cifar10", parent, download=False), expected,
           parent / "cifar10" / FOLDER)
    assert "cifar10" in D.DATASETS and "fashion_mnist" in D.DATASETS


def test_cifar_from_environment_variable(isolated, cifar, monkeypatch):
    files, expected = cifar
    folder = _write(isolated / "env" / "cifar10" / FOLDER, files)
    monkeypatch.setenv(D.ENV_VAR, str(isolated / "env"))
    _check(D.load_cifar10(download=False), expected, folder)


def test_cifar_from_user_cache(isolated, cifar):
    files, expected = cifar
    cache = D.cache_dir("cifar10")
    assert cache == isolated / "cache" / "eoctheory" / "cifar10"
    _write(cache / FOLDER, files)
    _check(D.load_cifar10(download=False), expected, cache / FOLDER)


def test_cifar_argument_comes_before_env_and_cache(isolated, cifar, monkeypatch):
    files, expected = cifar
    for place in ("arg", "env"):
        _write(isolated / place / FOLDER, files)
    _write(D.cache_dir("cifar10") / FOLDER, files)
    monkeypatch.setenv(D.ENV_VAR, str(isolated / "env"))
    assert D.load_cifar10(isolated / "arg").source == str((isolated / "arg" / FOLDER).resolve())
    assert D.load_cifar10().source == str((isolated / "env" / FOLDER).resolve())


def test_cifar_download_lands_in_the_cache(isolated, cifar, monkeypatch):
    files, expected = cifar
    tar = _tarball(files)
    monkeypatch.setattr(D, "CIFAR10_MD5", _md5(tar))
    calls = _serve(monkeypatch, tar)
    ds = D.load_cifar10(isolated / "nothing", mirrors=["http://mirror.example/kriz"])
    assert calls == ["http://mirror.example/kriz/cifar-10-python.tar.gz"]
    root = D.cache_dir("cifar10")
    _check(ds, expected, root / FOLDER)
    # only the seven expected files: no tarball, no readme.html, no temporary file
    assert _leftovers(root) == sorted([FOLDER] + [f"{FOLDER}/{n}" for n in files])
    assert D.load_cifar10(download=False).source == ds.source  # found there next time


def test_cifar_default_mirror_and_published_md5():
    assert D.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
    url = D.CIFAR10_MIRRORS[0] + D.CIFAR10_TARBALL
    assert url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def test_cifar_download_md5_mismatch_is_reported(isolated, cifar, monkeypatch):
    files, _ = cifar  # CIFAR10_MD5 stays the published one: the fake tarball fails it
    calls = _serve(monkeypatch, _tarball(files))
    with pytest.raises(D.DataNotFoundError, match="MD5 mismatch") as exc:
        D.load_cifar10(isolated / "nothing", mirrors=["http://a.example/", "http://b.example/"])
    assert len(calls) == 2  # every mirror tried
    msg = str(exc.value)
    for place in ("nothing", str(D.cache_dir("cifar10")), "a.example", "b.example"):
        assert place in msg
    assert _leftovers(D.cache_dir("cifar10")) == []  # the temporary tarball is gone


@pytest.mark.parametrize("error,exc_type", [
    (ConnectionResetError("connection reset"), D.DataNotFoundError),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
def test_cifar_interrupted_download_leaves_no_temporary_file(isolated, cifar, monkeypatch,
                                                             error, exc_type):
    files, _ = cifar
    _serve(monkeypatch, _tarball(files)[:5000], error)
    with pytest.raises(exc_type):
        D.load_cifar10(isolated / "nothing")
    assert _leftovers(D.cache_dir("cifar10")) == []


@pytest.mark.parametrize("name", ["../evil", f"{FOLDER}/../../evil", "/evil",
                                  "C:\\evil"])
def test_cifar_tarball_with_unsafe_member_is_refused(isolated, cifar, monkeypatch, name):
    files, _ = cifar
    tar = _tarball(files, [(tarfile.TarInfo(name), b"pwned")])
    monkeypatch.setattr(D, "CIFAR10_MD5", _md5(tar))
    _serve(monkeypatch, tar)
    with pytest.raises(D.DataNotFoundError, match="unsafe member") as exc:
        D.load_cifar10(isolated / "nothing")
    assert repr(name) in str(exc.value)
    assert _leftovers(D.cache_dir("cifar10")) == []  # nothing written, tarball removed
    assert not (isolated / "evil").exists() and not (isolated / "cache" / "evil").exists()
    local = isolated / "local"  # a tarball the user put somewhere: the same refusal
    local.mkdir()
    (local / D.CIFAR10_TARBALL).write_bytes(tar)
    with pytest.raises(ValueError, match="unsafe member"):
        D.load_cifar10(local, download=False)
    assert _leftovers(D.cache_dir("cifar10")) == []


def test_cifar_link_posing_as_a_batch_is_refused(isolated, cifar, monkeypatch):
    files, _ = cifar
    files = dict(files)
    del files["test_batch"]
    link = tarfile.TarInfo(f"{FOLDER}/test_batch")
    link.type, link.linkname = tarfile.SYMTYPE, "data_batch_1"
    local = isolated / "local"
    local.mkdir()
    tar = _tarball(files, [(link, None)])
    (local / D.CIFAR10_TARBALL).write_bytes(tar)
    monkeypatch.setattr(D, "CIFAR10_MD5", _md5(tar))
    with pytest.raises(ValueError, match="not a regular file"):
        D.load_cifar10(local, download=False)
    evil = tarfile.TarInfo("innocent")
    evil.type, evil.linkname = tarfile.SYMTYPE, "/etc/passwd"
    (local / D.CIFAR10_TARBALL).write_bytes(_tarball(cifar[0], [(evil, None)]))
    with pytest.raises(ValueError, match="unsafe member 'innocent'"):
        D.load_cifar10(local, verify=False, download=False)


def test_cifar_local_tarball_is_checked_and_unpacked_into_the_cache(isolated, cifar,
                                                                    monkeypatch):
    files, expected = cifar
    local = isolated / "downloads"
    local.mkdir()
    tar = _tarball(files)
    (local / D.CIFAR10_TARBALL).write_bytes(tar)
    with pytest.raises(ValueError, match="MD5") as exc:  # not the published tarball
        D.load_cifar10(local, download=False)
    assert D.CIFAR10_TARBALL in str(exc.value)
    monkeypatch.setattr(D, "CIFAR10_MD5", _md5(tar))
    ds = D.load_cifar10(local, download=False)
    _check(ds, expected, D.cache_dir("cifar10") / FOLDER)
    assert (local / D.CIFAR10_TARBALL).read_bytes() == tar  # left as it was


def test_cifar_truncated_tarball_is_named(isolated, cifar, monkeypatch):
    local = isolated / "local"
    local.mkdir()
    (local / D.CIFAR10_TARBALL).write_bytes(_tarball(cifar[0])[:3000])
    with pytest.raises(ValueError, match="truncated or corrupt tarball") as exc:
        D.load_cifar10(local, verify=False, download=False)
    assert str(local / D.CIFAR10_TARBALL) in str(exc.value)
    assert _leftovers(D.cache_dir("cifar10")) == []


def test_cifar_missing_file_is_named(isolated, cifar, monkeypatch):
    files, _ = cifar
    partial = {k: v for k, v in files.items() if k != "test_batch"}
    _write(isolated / "arg" / FOLDER, partial)
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load_cifar10(isolated / "arg", download=False)
    msg = str(exc.value)
    assert "lacks test_batch" in msg and "download disabled" in msg
    assert str(isolated / "arg" / FOLDER) in msg and str(D.cache_dir("cifar10")) in msg
    assert isinstance(exc.value, FileNotFoundError)
    tar = _tarball(partial)  # and a tarball without it
    monkeypatch.setattr(D, "CIFAR10_MD5", _md5(tar))
    _serve(monkeypatch, tar)
    with pytest.raises(D.DataNotFoundError, match=f"lacks {FOLDER}/test_batch"):
        D.load_cifar10(isolated / "nothing")


def test_cifar_official_md5s_refuse_other_files_unless_verify_false(isolated, monkeypatch):
    files, expected = _cifar_files()  # CIFAR10_FILE_MD5: the official ones
    folder = _write(isolated / "mine" / FOLDER, files)
    with pytest.raises(ValueError, match="MD5 is not") as exc:
        D.load_cifar10(folder, download=False)
    assert str(folder) in str(exc.value) and "verify=False" in str(exc.value)
    _check(D.load_cifar10(folder, verify=False, download=False), expected, folder)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("what", ["code", "shape", "labels", "not a dict", "truncated"])
def test_cifar_bad_pickles_are_refused(isolated, cifar, what):
    files, _ = cifar
    marker = isolated / "marker"
    good = pickle.loads(files["data_batch_2"])
    bad = {"code": pickle.dumps({b"data": _Evil(str(marker)), b"labels": [0]}),
           "shape": pickle.dumps({**good, b"data": good[b"data"][:, :100]}),
           "labels": pickle.dumps({**good, b"labels": [12] * N}),
           "not a dict": pickle.dumps([1, 2, 3]),
           "truncated": files["data_batch_2"][:-100]}[what]
    folder = _write(isolated / "arg" / FOLDER, {**files, "data_batch_2": bad})
    with pytest.raises(ValueError) as exc:
        D.load_cifar10(folder, verify=False, download=False)
    assert str(folder / "data_batch_2") in str(exc.value)
    assert not marker.exists()  # the pickle's code never ran
    if what == "code":
        assert "is not allowed" in str(exc.value)


def test_cifar_reload_after_files_change(isolated, cifar, monkeypatch):
    files, expected = cifar
    folder = _write(isolated / "arg" / FOLDER, files)
    assert D.load_cifar10(folder).y_test[0] == expected["y_test"][0]
    changed = pickle.loads(files["test_batch"])
    changed[b"labels"] = [9] * N
    raw = pickle.dumps(changed)
    (folder / "test_batch").write_bytes(raw)
    os.utime(folder / "test_batch", ns=(1, 1))
    monkeypatch.setitem(D.CIFAR10_FILE_MD5, "test_batch", _md5(raw))
    assert (D.load_cifar10(folder).y_test == 9).all()  # not a stale cached copy


def test_cifar_bad_arguments(isolated):
    with pytest.raises(ValueError, match="mirrors is empty"):
        D.load_cifar10(isolated / "nothing", mirrors=[])
    with pytest.raises(ValueError, match="not one string"):
        D.load_cifar10(isolated / "nothing", mirrors="http://x/")
    with pytest.raises(ValueError, match="timeout"):
        D.load_cifar10(isolated / "nothing", timeout=-1)


# --- Fashion-MNIST -------------------------------------------------------------------------
TINY = {"train-images-idx3-ubyte": (30, 28, 28), "train-labels-idx1-ubyte": (30,),
        "t10k-images-idx3-ubyte": (10, 28, 28), "t10k-labels-idx1-ubyte": (10,)}


def _idx(arr: np.ndarray) -> bytes:
    return (bytes([0, 0, 8, arr.ndim]) + b"".join(n.to_bytes(4, "big") for n in arr.shape)
            + arr.astype(np.uint8).tobytes())


@pytest.fixture
def fashion(monkeypatch):
    """Tiny Fashion-MNIST files (stem -> uncompressed bytes), their MD5s and shapes made
    the official ones; and the arrays."""
    rng = np.random.default_rng(2)
    arrays = {stem: (np.arange(shape[0]) % 10 if "labels" in stem
                     else rng.integers(0, 256, shape)).astype(np.uint8)
              for stem, shape in TINY.items()}
    raw = {stem: _idx(a) for stem, a in arrays.items()}
    monkeypatch.setattr(D, "FASHION_MNIST_SHAPES", dict(TINY))
    monkeypatch.setattr(D, "FASHION_MNIST_MD5", {s: _md5(raw[s]) for s in raw})
    return raw, arrays


def _write_idx(d: Path, raw: dict, gz: bool = True, skip: tuple = ()) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for stem, b in raw.items():
        if stem not in skip:
            if gz:
                (d / (stem + ".gz")).write_bytes(gzip.compress(b))
            else:
                (d / stem).write_bytes(b)
    return d


def _check_fashion(ds, arrays, source: Path | None = None):
    assert ds.name == "fashion_mnist" and ds.n_classes == 10
    assert ds.x_train.shape == (30, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10, 28, 28)
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    if source is not None:
        assert ds.source == str(source.resolve())


def test_fashion_from_directory_argument(isolated, fashion):
    raw, arrays = fashion
    d = _write_idx(isolated / "arg", raw)
    _check_fashion(D.load_fashion_mnist(d, download=False), arrays, d)
    sub = _write_idx(isolated / "parent" / "fashion-mnist", raw, gz=False)  # uncompressed
    _check_fashion(D.load_dataset("fashion_mnist", isolated / "parent", download=False),
                   arrays, sub)


def test_fashion_from_environment_variable_subfolder_only(isolated, fashion, monkeypatch):
    raw, arrays = fashion
    monkeypatch.setenv(D.ENV_VAR, str(isolated / "env"))
    _write_idx(isolated / "env", raw)  # files in $EOCTHEORY_DATA itself are MNIST's
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load_fashion_mnist(download=False)
    assert str(isolated / "env" / "fashion_mnist") in str(exc.value)
    sub = _write_idx(isolated / "env" / "fashion_mnist", raw)
    _check_fashion(D.load_fashion_mnist(download=False), arrays, sub)


def test_fashion_debian_copy_comes_before_the_cache(isolated, fashion, monkeypatch):
    raw, arrays = fashion
    assert D.FASHION_MNIST_SYSTEM_DIRS[0] == str(isolated / "no-system")  # patched
    system = _write_idx(isolated / "usr-share", raw)
    monkeypatch.setattr(D, "FASHION_MNIST_SYSTEM_DIRS", (str(isolated / "x"), str(system)))
    cache = _write_idx(D.cache_dir("fashion_mnist"), raw)
    _check_fashion(D.load_fashion_mnist(download=False), arrays, system)
    monkeypatch.setattr(D, "FASHION_MNIST_SYSTEM_DIRS", ())
    _check_fashion(D.load_fashion_mnist(download=False), arrays, cache)


def test_fashion_debian_paths():
    assert "/usr/share/datasets/fashion-mnist" in D.FASHION_MNIST_SYSTEM_DIRS
    assert "/usr/share/dataset-fashion-mnist" in D.FASHION_MNIST_SYSTEM_DIRS


def test_fashion_download_lands_in_the_cache(isolated, fashion, monkeypatch):
    raw, arrays = fashion
    served = []

    def fake_urlopen(url, timeout):
        served.append(url)
        return _FakeResponse(gzip.compress(raw[url.rsplit("/", 1)[1][:-3]]))

    monkeypatch.setattr(D.urllib.request, "urlopen", fake_urlopen)
    ds = D.load_fashion_mnist(isolated / "nothing", mirrors=["http://mirror.example/fashion"])
    cache = D.cache_dir("fashion_mnist")
    _check_fashion(ds, arrays, cache)
    assert sorted(served) == sorted(f"http://mirror.example/fashion/{s}.gz" for s in TINY)
    assert _leftovers(cache) == sorted(s + ".gz" for s in TINY)


def test_fashion_default_mirrors():
    assert any("raw.githubusercontent.com/zalandoresearch/fashion-mnist" in m
               and m.endswith("data/fashion/") for m in D.FASHION_MNIST_MIRRORS)
    assert any("fashion-mnist.s3-website.eu-central-1.amazonaws.com" in m
               for m in D.FASHION_MNIST_MIRRORS)
    assert D.FASHION_MNIST_GZ_MD5["train-images-idx3-ubyte"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


def test_fashion_download_md5_mismatch_is_reported(isolated, fashion, monkeypatch):
    _serve(monkeypatch, gzip.compress(_idx(np.zeros(5, np.uint8))))
    with pytest.raises(D.DataNotFoundError, match="MD5 mismatch") as exc:
        D.load_fashion_mnist(isolated / "nothing", mirrors=["http://mirror.example/"])
    assert "apt install dataset-fashion-mnist" not in str(exc.value)  # download was tried
    assert str(isolated / "no-system") in str(exc.value)
    assert _leftovers(D.cache_dir("fashion_mnist")) == []


def test_fashion_official_md5_refuses_other_files(isolated, fashion, monkeypatch):
    raw, arrays = fashion
    monkeypatch.setattr(D, "FASHION_MNIST_MD5", dict(
        zip(D.MNIST_MD5, ["f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                          "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"])))
    d = _write_idx(isolated / "arg", raw)
    with pytest.raises(ValueError, match="not Fashion-MNIST") as exc:
        D.load_fashion_mnist(d, download=False)
    assert "MD5" in str(exc.value)
    _check_fashion(D.load_fashion_mnist(d, verify=False, download=False), arrays, d)


def test_fashion_missing_file_is_named(isolated, fashion):
    raw, _ = fashion
    d = _write_idx(isolated / "arg", raw, skip=("t10k-labels-idx1-ubyte",))
    with pytest.raises(D.DataNotFoundError) as exc:
        D.load_fashion_mnist(d, download=False)
    msg = str(exc.value)
    assert "lacks t10k-labels-idx1-ubyte(.gz)" in msg and "download disabled" in msg
    assert "apt install dataset-fashion-mnist" in msg


def test_fashion_bad_header_is_named(isolated, fashion, monkeypatch):
    raw, _ = fashion
    bad = dict(raw, **{"train-images-idx3-ubyte": _idx(np.zeros((3, 28, 28), np.uint8))})
    d = _write_idx(isolated / "arg", bad)
    with pytest.raises(ValueError, match="not this Fashion-MNIST file") as exc:
        D.load_fashion_mnist(d, verify=False, download=False)
    assert str(d / "train-images-idx3-ubyte.gz") in str(exc.value)


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason=f"dataset-fashion-mnist not at {DEBIAN}")
def test_fashion_real_debian_copy(isolated):
    ds = D.load_fashion_mnist(DEBIAN, download=False)
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert (np.bincount(ds.y_train) == 6000).all() and (np.bincount(ds.y_test) == 1000).all()
