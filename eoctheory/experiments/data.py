r"""Data sets for the paper's experiments: MNIST (Sec. 4) and scikit-learn's 8x8 digits.

:func:`load_mnist` looks for the four IDX files (``.gz`` or uncompressed) in this order:

1. the directory given as ``data_dir``;
2. the directory in the environment variable ``EOCTHEORY_DATA`` (the files themselves, or
   a ``mnist/`` subdirectory);
3. the user cache, ``$XDG_CACHE_HOME/eoctheory/mnist`` (default ``~/.cache/eoctheory/mnist``);
4. otherwise (``download=True``) it downloads them into the cache from the usual public
   mirrors, tried in turn.

Every file is checked against the published MD5 of its uncompressed content (and, with
``verify=False`` too, against its IDX header: magic number and shape). A truncated or
corrupt file raises ``ValueError`` naming it. When nothing is found and no download
succeeds, a :class:`DataNotFoundError` (a ``FileNotFoundError``) lists every place it looked
and what each mirror answered. A download goes to a temporary file in the cache that is
renamed only once its MD5 matches, and removed otherwise. Needs only NumPy (no torch).

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
import urllib.error
import zlib
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

#: IDX type code (0x08: unsigned bytes) and shape of each file.
MNIST_SHAPES = {
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
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
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{path}: truncated or corrupt gzip file ({exc or 'cut short'}); "
                             "delete it to download again") from None
    return path.read_bytes()


def _parse_idx(raw: bytes, path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The array of an IDX file of unsigned bytes; ``shape``: the one it must have."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    off = 4 + 4 * ndim
    if ndim == 0 or len(raw) < off:
        raise ValueError(f"{path}: IDX header cut short or with {ndim} dimensions")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if shape is not None and dims != tuple(shape):
        raise ValueError(f"{path}: IDX header says shape {dims}, expected {tuple(shape)} "
                         "(not this MNIST file)")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=off)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: IDX header says {list(dims)}, found {arr.size} bytes "
                         "(truncated or corrupt)")
    return arr.reshape(dims)


class _Mismatch(Exception):
    pass


def _download(stem: str, dest: Path, mirrors: tuple[str, ...], timeout: float) -> list[str]:
    """Try each mirror; keep the first file whose content matches the MD5. Returns errors.

    Each attempt writes a temporary file in ``dest`` (:func:`eoctheory.files.atomic_output`)
    that becomes ``stem.gz`` only when complete and verified; a failed, cut-off or
    interrupted download removes it.
    """
    from eoctheory.files import atomic_output

    errors = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"cannot create the cache {dest}: {exc.strerror or exc}"]
    for base in mirrors:
        url = base + ("" if base.endswith("/") else "/") + stem + ".gz"
        try:
            with atomic_output(dest / (stem + ".gz")) as tmp:
                with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                    shutil.copyfileobj(r, f)
                raw = gzip.decompress(Path(tmp).read_bytes())
                if hashlib.md5(raw).hexdigest() != MNIST_MD5[stem]:
                    raise _Mismatch
            return []
        except _Mismatch:
            errors.append(f"{url}: MD5 mismatch")
        except (urllib.error.URLError, OSError, EOFError, ValueError, zlib.error) as exc:
            errors.append(f"{url}: {exc}")
    return errors


@lru_cache(maxsize=4)
def _load_mnist_dir(directory: str, verify: bool) -> Dataset:
    d = Path(directory)
    arrays = {}
    for stem, md5 in MNIST_MD5.items():
        path = _file_in(d, stem)
        if path is None:
            raise DataNotFoundError(f"MNIST file {stem}(.gz) is missing in {d}")
        raw = _read_raw(path)
        if verify and hashlib.md5(raw).hexdigest() != md5:
            raise ValueError(f"{path}: MD5 of the uncompressed file is not {md5} "
                             "(corrupt or not MNIST); delete it to download again")
        arr = _parse_idx(raw, path, MNIST_SHAPES[stem])
        if "labels" in stem and arr.size and int(arr.max()) > 9:
            raise ValueError(f"{path}: labels above 9 (corrupt or not MNIST)")
        arrays[stem] = arr
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
        Base URLs tried in order (default :data:`MNIST_MIRRORS`); at least one.
    timeout : float
        Per-request timeout in seconds.

    Raises
    ------
    DataNotFoundError
        No directory holds the files and no download worked; the message lists where it
        looked and what each mirror answered.
    ValueError
        A file fails its checksum or its IDX header (also with ``verify=False``), or is a
        truncated gzip file (the message names the file); ``mirrors`` is empty or a string.
    """
    if mirrors is not None:
        if isinstance(mirrors, (str, bytes)):
            raise ValueError(f"mirrors must be a sequence of base URLs, not one string "
                             f"(got {mirrors!r}); wrap it in a list")
        mirrors = tuple(mirrors)
        if not mirrors:
            raise ValueError("mirrors is empty: give at least one base URL (default "
                             "MNIST_MIRRORS), or download=False")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0 (got {timeout!r})")
    found, looked = find_mnist(data_dir)
    if found is None and download:
        dest = cache_dir()
        errors = []
        for stem in MNIST_MD5:
            if _file_in(dest, stem) is None:
                errors += _download(stem, dest, MNIST_MIRRORS if mirrors is None else mirrors,
                                    timeout)
        if not errors and all(_file_in(dest, stem) is not None for stem in MNIST_MD5):
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
