r"""Data sets for the paper's experiments: MNIST (Sec. 4) and scikit-learn's 8x8 digits.

:func:`load_mnist` looks for the four IDX files (``.gz`` or uncompressed) in this order:

1. the directory given as ``data_dir``;
2. the directory in the environment variable ``EOCTHEORY_DATA`` (the files themselves, or
   a ``mnist/`` subdirectory);
3. the user cache, ``$XDG_CACHE_HOME/eoctheory/mnist`` (default ``~/.cache/eoctheory/mnist``);
4. otherwise (``download=True``) it downloads them into the cache from the usual public
   mirrors, tried in turn.

Every file is checked against the published MD5 of its uncompressed content. When nothing
is found and no download succeeds, a :class:`DataNotFoundError` (a ``FileNotFoundError``)
lists every place it looked. Needs only NumPy (no torch).

Examples
--------
>>> import eoctheory.experiments.data as D
>>> sorted(D.MNIST_MD5)[:2]
['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "DataNotFoundError",
    "Dataset",
    "ENV_VAR",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "cache_dir",
    "find_mnist",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "split_validation",
]

#: Environment variable naming a directory that holds (a ``mnist/`` folder with) the files.
ENV_VAR = "EOCTHEORY_DATA"

#: MD5 of the uncompressed IDX files (the published ones; ../shared/DATA.md).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: Public mirrors of the ``.gz`` files, tried in order (those torchvision uses).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

DATASETS = ("mnist", "digits")


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the places looked at and could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    r"""Images and labels, split as published.

    Attributes
    ----------
    x_train, x_test : ndarray of uint8 or float
        ``(n, 28, 28)`` for MNIST (uint8, 0..255), ``(n, 8, 8)`` for digits (0..16).
    y_train, y_test : ndarray of int64
    name : str
    source : str
        Where it was loaded from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def cache_dir() -> Path:
    """The user cache directory for MNIST: ``$XDG_CACHE_HOME/eoctheory/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eoctheory" / "mnist"


def _file_in(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        p = directory / name
        if p.is_file():
            return p
    return None


def _candidates(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if data_dir is not None:
        d = Path(data_dir)
        out += [("data_dir argument", d), ("data_dir argument", d / "mnist")]
    env = os.environ.get(ENV_VAR)
    if env:
        d = Path(env)
        out += [(f"${ENV_VAR}", d), (f"${ENV_VAR}", d / "mnist")]
    out.append(("user cache", cache_dir()))
    return out


def find_mnist(data_dir: str | os.PathLike | None = None) -> tuple[Path | None, list[str]]:
    """The first directory holding all four MNIST files, and the list of places looked at."""
    looked = []
    for label, d in _candidates(data_dir):
        looked.append(f"{d} ({label})")
        if all(_file_in(d, stem) is not None for stem in MNIST_MD5):
            return d, looked
    return None, looked


def _read_raw(path: Path) -> bytes:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            return f.read()
    return path.read_bytes()


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    arr = np.frombuffer(raw, dtype=np.uint8, offset=off)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: IDX header says {dims}, found {arr.size} bytes")
    return arr.reshape(dims)


def _download(stem: str, dest: Path, mirrors: tuple[str, ...], timeout: float) -> list[str]:
    """Try each mirror; keep the first file whose content matches the MD5. Returns errors."""
    errors = []
    dest.mkdir(parents=True, exist_ok=True)
    for base in mirrors:
        url = base + stem + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, \
                    tempfile.NamedTemporaryFile(dir=dest, delete=False) as tmp:
                shutil.copyfileobj(r, tmp)
            raw = gzip.decompress(Path(tmp.name).read_bytes())
            if hashlib.md5(raw).hexdigest() != MNIST_MD5[stem]:
                os.unlink(tmp.name)
                errors.append(f"{url}: MD5 mismatch")
                continue
            os.replace(tmp.name, dest / (stem + ".gz"))
            return []
        except (urllib.error.URLError, OSError, EOFError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    return errors


@lru_cache(maxsize=4)
def _load_mnist_dir(directory: str, verify: bool) -> Dataset:
    d = Path(directory)
    arrays = {}
    for stem, md5 in MNIST_MD5.items():
        path = _file_in(d, stem)
        raw = _read_raw(path)
        if verify and hashlib.md5(raw).hexdigest() != md5:
            raise ValueError(f"{path}: MD5 of the uncompressed file is not {md5} "
                             "(corrupt or not MNIST); delete it to download again")
        arrays[stem] = _parse_idx(raw, path)
    return Dataset(arrays["train-images-idx3-ubyte"],
                   arrays["train-labels-idx1-ubyte"].astype(np.int64),
                   arrays["t10k-images-idx3-ubyte"],
                   arrays["t10k-labels-idx1-ubyte"].astype(np.int64), "mnist", str(d))


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
               verify: bool = True, mirrors: Sequence[str] | None = None,
               timeout: float = 30.0) -> Dataset:
    r"""MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0): 60,000 train and 10,000 test images.

    Parameters
    ----------
    data_dir : path, optional
        Directory with the four IDX files (``.gz`` or not), or its parent with ``mnist/``.
    download : bool, default True
        Download into :func:`cache_dir` when no directory has the files.
    verify : bool, default True
        Check the MD5 of every file (about 0.2 s).
    mirrors : sequence of str, optional
        Base URLs tried in order (default :data:`MNIST_MIRRORS`).
    timeout : float
        Per-request timeout in seconds.

    Raises
    ------
    DataNotFoundError
        No directory holds the files and no download worked; the message lists where it
        looked and what each mirror answered.
    ValueError
        A file fails its checksum.
    """
    found, looked = find_mnist(data_dir)
    if found is None and download:
        dest = cache_dir()
        errors = []
        for stem in MNIST_MD5:
            if _file_in(dest, stem) is None:
                errors += _download(stem, dest, tuple(MNIST_MIRRORS if mirrors is None
                                                      else mirrors), timeout)
        if not errors:
            found = dest
        else:
            raise DataNotFoundError(
                "MNIST not found; looked in: " + "; ".join(looked) +
                ". Download failed: " + "; ".join(errors) +
                f". Pass data_dir=..., set ${ENV_VAR}, or put the four IDX files in {dest}")
    if found is None:
        raise DataNotFoundError(
            "MNIST not found; looked in: " + "; ".join(looked) +
            f" (download disabled). Pass data_dir=... or set ${ENV_VAR}")
    return _load_mnist_dir(str(found.resolve()), bool(verify))


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images), split 1,437 / 360 with a fixed seed."""
    try:
        from sklearn.datasets import load_digits as _ld
    except ImportError as exc:  # pragma: no cover
        raise DataNotFoundError("dataset 'digits' needs scikit-learn "
                                "(pip install scikit-learn)") from exc
    d = _ld()
    x = d.images.astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    n_test = len(y) // 5
    te, tr = perm[:n_test], perm[n_test:]
    return Dataset(x[tr], y[tr], x[te], y[te], "digits", "sklearn.datasets.load_digits")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, **kw: Any) -> Dataset:
    """``"mnist"`` (:func:`load_mnist`) or ``"digits"`` (:func:`load_digits`)."""
    if name == "mnist":
        return load_mnist(data_dir, **kw)
    if name == "digits":
        return load_digits()
    raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")


def split_validation(n: int, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)``: a seeded random ``fraction`` of ``n`` held out (App. D)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,))).permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
