r"""Data sets for the paper's experiments: MNIST (Sec. 4), Fashion-MNIST, CIFAR-10 and
scikit-learn's 8x8 digits.

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
(and, for a directory holding only some of the files, which ones it lacks) and what each
mirror answered. A download goes to a temporary file in the cache that is renamed only once
its MD5 matches, and removed otherwise. Needs only NumPy (no torch).

:func:`load_fashion_mnist` (Zalando's Fashion-MNIST, the same IDX files and names as MNIST)
looks in ``data_dir`` (itself, or ``fashion_mnist/``, ``fashion-mnist/``, ``fashion/``), then
``$EOCTHEORY_DATA/fashion_mnist`` or ``$EOCTHEORY_DATA/fashion-mnist`` (not
``$EOCTHEORY_DATA`` itself, whose IDX files are MNIST's), then the copy of Debian's package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``; also
``/usr/share/dataset-fashion-mnist``), then the cache ``~/.cache/eoctheory/fashion_mnist``,
and finally downloads from :data:`FASHION_MNIST_MIRRORS`. Debian recompresses the ``.gz``
files, so their MD5 differs from the published one of the ``.gz``; the content is the
same, and like MNIST it is the MD5 of the uncompressed content (:data:`FASHION_MNIST_MD5`)
that is checked.

:func:`load_cifar10` (Krizhevsky's CIFAR-10, the official "python version") looks for the
folder ``cifar-10-batches-py`` (or its seven files: ``data_batch_1`` .. ``data_batch_5``,
``test_batch``, ``batches.meta``) in ``data_dir``, ``data_dir/cifar10``,
``$EOCTHEORY_DATA``, ``$EOCTHEORY_DATA/cifar10`` and the cache
``~/.cache/eoctheory/cifar10``; a tarball ``cifar-10-python.tar.gz`` found in one of these
places is unpacked into the cache. Otherwise it downloads the tarball from
:data:`CIFAR10_MIRRORS` into a temporary file in the cache, checks its published MD5, unpacks
only the seven expected files (a tarball with an absolute member name or a ``..`` component is
refused whole; nothing but those seven regular files is ever written, each atomically) and
removes the tarball. See :func:`load_cifar10` on reading the pickles safely.

Examples
--------
>>> import eoctheory.experiments.data as D
>>> sorted(D.MNIST_MD5)[:2]
['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
>>> D.DATASETS
('mnist', 'digits', 'fashion_mnist', 'cifar10')
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
import shutil
import tarfile
import tempfile
import urllib.error
import zlib
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "CIFAR10_FILE_MD5",
    "CIFAR10_MD5",
    "CIFAR10_MIRRORS",
    "DataNotFoundError",
    "Dataset",
    "ENV_VAR",
    "FASHION_MNIST_GZ_MD5",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_SYSTEM_DIRS",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "cache_dir",
    "find_cifar10",
    "find_fashion_mnist",
    "find_mnist",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
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

#: IDX type code (0x08: unsigned bytes) and shape of each file (MNIST and Fashion-MNIST).
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

#: MD5 of the uncompressed Fashion-MNIST IDX files (checked on every load; the same for the
#: official ``.gz`` files and Debian's recompressed ones).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

#: The published MD5 of the official ``.gz`` files (zalandoresearch/fashion-mnist README),
#: for reference: a download is accepted when its uncompressed content matches
#: :data:`FASHION_MNIST_MD5`, which these files do.
FASHION_MNIST_GZ_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: The official Fashion-MNIST mirrors, tried in order: the GitHub repository's
#: ``data/fashion/`` (HTTPS) and the S3 website bucket (which serves plain HTTP only; the
#: MD5 check guards the content).
FASHION_MNIST_MIRRORS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

#: Where Debian's package ``dataset-fashion-mnist`` puts the ``.gz`` files (its file list:
#: ``/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz`` etc.), and the
#: package-named directory, looked at too.
FASHION_MNIST_SYSTEM_DIRS = (
    "/usr/share/datasets/fashion-mnist",
    "/usr/share/dataset-fashion-mnist",
)

#: Shape of each Fashion-MNIST file (those of MNIST).
FASHION_MNIST_SHAPES = dict(MNIST_SHAPES)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

#: The official CIFAR-10 "python version" tarball and its published MD5.
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: Base URLs of the tarball, tried in order.
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
#: The folder inside the tarball, and the MD5 of its seven files (those torchvision checks).
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                         "data_batch_5")
#: Largest tarball member unpacked (the real ones are about 31 MB): guards against a
#: decompression bomb.
_MAX_MEMBER_BYTES = 256 * 2**20

DATASETS = ("mnist", "digits", "fashion_mnist", "cifar10")


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the places looked at and could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    r"""Images and labels, split as published.

    Attributes
    ----------
    x_train, x_test : ndarray of uint8 or float
        ``(n, 28, 28)`` for MNIST and Fashion-MNIST (uint8, 0..255), ``(n, 3, 32, 32)`` for
        CIFAR-10 (uint8, channels first: red, green, blue), ``(n, 8, 8)`` for digits (0..16).
        The arrays of the file-based sets are read-only (they are shared between calls).
    y_train, y_test : ndarray of int64
    name : str
    source : str
        Where it was loaded from.
    classes : tuple of str
        The class names, by label (empty where the data set has none).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str
    classes: tuple = ()

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def cache_dir(name: str = "mnist") -> Path:
    """The user cache directory of a data set: ``$XDG_CACHE_HOME/eoctheory/<name>``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "eoctheory" / name


def _file_in(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        p = directory / name
        if p.is_file():
            return p
    return None


def _plain_file_in(directory: Path, name: str) -> Path | None:
    p = directory / name
    return p if p.is_file() else None


def _look(d: Path, label: str, names: Sequence[str],
          present: Callable[[Path, str], Path | None], shown: Callable[[str], str]) -> str:
    """``d (label)``, with the files it lacks when it holds some of them only."""
    if d.is_dir():
        missing = [n for n in names if present(d, n) is None]
        if missing and len(missing) < len(names):
            return f"{d} ({label}; lacks {', '.join(shown(n) for n in missing)})"
    return f"{d} ({label})"


def _find_in(candidates: Sequence[tuple[str, Path]], names: Sequence[str],
             present: Callable[[Path, str], Path | None] = _file_in,
             shown: Callable[[str], str] = lambda n: n + "(.gz)"
             ) -> tuple[Path | None, list[str]]:
    looked = []
    for label, d in candidates:
        looked.append(_look(d, label, names, present, shown))
        if all(present(d, n) is not None for n in names):
            return d, looked
    return None, looked


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
    return _find_in(_candidates(data_dir), list(MNIST_MD5))


def _read_raw(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{path}: truncated or corrupt gzip file ({exc or 'cut short'}); "
                             "delete it to download again") from None
    return path.read_bytes()


def _parse_idx(raw: bytes, path: Path, shape: tuple[int, ...] | None = None,
               what: str = "MNIST") -> np.ndarray:
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
                         f"(not this {what} file)")
    arr = np.frombuffer(raw, dtype=np.uint8, offset=off)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: IDX header says {list(dims)}, found {arr.size} bytes "
                         "(truncated or corrupt)")
    return arr.reshape(dims)


class _Mismatch(Exception):
    pass


def _download(stem: str, dest: Path, mirrors: tuple[str, ...], timeout: float,
              md5: str | None = None) -> list[str]:
    """Try each mirror; keep the first file whose content matches the MD5. Returns errors.

    ``md5``: that of the uncompressed content (default: MNIST's). Each attempt writes a
    temporary file in ``dest`` (:func:`eoctheory.files.atomic_output`) that becomes
    ``stem.gz`` only when complete and verified; a failed, cut-off or interrupted download
    removes it.
    """
    from eoctheory.files import atomic_output

    expected = MNIST_MD5[stem] if md5 is None else md5
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
                if hashlib.md5(raw).hexdigest() != expected:
                    raise _Mismatch
            return []
        except _Mismatch:
            errors.append(f"{url}: MD5 mismatch")
        except (urllib.error.URLError, OSError, EOFError, ValueError, zlib.error) as exc:
            errors.append(f"{url}: {exc}")
    return errors


def _load_idx_set(d: Path, verify: bool, md5s: dict, shapes: dict, what: str, name: str,
                  classes: tuple = ()) -> Dataset:
    arrays = {}
    for stem, md5 in md5s.items():
        path = _file_in(d, stem)
        if path is None:
            raise DataNotFoundError(f"{what} file {stem}(.gz) is missing in {d}")
        raw = _read_raw(path)
        if verify and hashlib.md5(raw).hexdigest() != md5:
            raise ValueError(f"{path}: MD5 of the uncompressed file is not {md5} "
                             f"(corrupt or not {what}); delete it to download again")
        arr = _parse_idx(raw, path, shapes[stem], what)
        if "labels" in stem and arr.size and int(arr.max()) > 9:
            raise ValueError(f"{path}: labels above 9 (corrupt or not {what})")
        arrays[stem] = arr
    return Dataset(arrays["train-images-idx3-ubyte"],
                   arrays["train-labels-idx1-ubyte"].astype(np.int64),
                   arrays["t10k-images-idx3-ubyte"],
                   arrays["t10k-labels-idx1-ubyte"].astype(np.int64), name, str(d), classes)


@lru_cache(maxsize=4)
def _load_mnist_dir(directory: str, verify: bool) -> Dataset:
    return _load_idx_set(Path(directory), verify, MNIST_MD5, MNIST_SHAPES, "MNIST", "mnist")


def _mirrors_and_timeout(mirrors: Sequence[str] | None, timeout: Any,
                         default_name: str) -> tuple[str, ...] | None:
    """Check the ``mirrors`` and ``timeout`` arguments (one ``ValueError`` each)."""
    if mirrors is not None:
        if isinstance(mirrors, (str, bytes)):
            raise ValueError(f"mirrors must be a sequence of base URLs, not one string "
                             f"(got {mirrors!r}); wrap it in a list")
        mirrors = tuple(mirrors)
        if not mirrors:
            raise ValueError(f"mirrors is empty: give at least one base URL (default "
                             f"{default_name}), or download=False")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout must be a number of seconds > 0 (got {timeout!r})")
    return mirrors


def _fetch_idx(what: str, found: Path | None, looked: list[str], md5s: dict, dest: Path,
               mirrors: tuple[str, ...], download: bool, timeout: float, hint: str) -> Path:
    """The directory found, else the cache once the missing files are downloaded into it."""
    if found is None and download:
        errors = []
        for stem in md5s:
            if _file_in(dest, stem) is None:
                errors += _download(stem, dest, mirrors, timeout, md5s[stem])
        if not errors and all(_file_in(dest, stem) is not None for stem in md5s):
            found = dest
        else:
            raise DataNotFoundError(
                f"{what} not found; looked in: " + "; ".join(looked) +
                ". Download failed: " + "; ".join(errors) +
                f". Pass data_dir=..., set ${ENV_VAR}, or put the four IDX files in {dest}")
    if found is None:
        raise DataNotFoundError(
            f"{what} not found; looked in: " + "; ".join(looked) +
            f" (download disabled). Pass data_dir=...{hint}")
    return found


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
    mirrors = _mirrors_and_timeout(mirrors, timeout, "MNIST_MIRRORS")
    found, looked = find_mnist(data_dir)
    found = _fetch_idx("MNIST", found, looked, MNIST_MD5, cache_dir(),
                       MNIST_MIRRORS if mirrors is None else mirrors, download, timeout,
                       f" or set ${ENV_VAR}")
    return _load_mnist_dir(str(found.resolve()), bool(verify))


# --- Fashion-MNIST ---------------------------------------------------------------------------
def _fashion_candidates(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    subs = ("fashion_mnist", "fashion-mnist")
    out: list[tuple[str, Path]] = []
    if data_dir is not None:
        d = Path(data_dir)
        out += [("data_dir argument", d)]
        out += [("data_dir argument", d / s) for s in subs + ("fashion",)]
    env = os.environ.get(ENV_VAR)
    if env:  # not the directory itself: IDX files there are MNIST's
        out += [(f"${ENV_VAR}", Path(env) / s) for s in subs]
    out += [("Debian's dataset-fashion-mnist", Path(p)) for p in FASHION_MNIST_SYSTEM_DIRS]
    out.append(("user cache", cache_dir("fashion_mnist")))
    return out


def find_fashion_mnist(data_dir: str | os.PathLike | None = None
                       ) -> tuple[Path | None, list[str]]:
    """The first directory holding the four Fashion-MNIST files, and the places looked at."""
    return _find_in(_fashion_candidates(data_dir), list(FASHION_MNIST_MD5))


def _signature(d: Path, names: Sequence[str], present: Callable[[Path, str], Path | None]
               ) -> tuple:
    """Size and modification time of the files: a changed file is read again."""
    out = []
    for n in names:
        p = present(d, n)
        st = p.stat() if p is not None else None
        out.append((n, None if st is None else (st.st_size, st.st_mtime_ns)))
    return tuple(out)


@lru_cache(maxsize=2)
def _load_fashion_dir(directory: str, verify: bool, signature: tuple) -> Dataset:
    return _load_idx_set(Path(directory), verify, FASHION_MNIST_MD5, FASHION_MNIST_SHAPES,
                         "Fashion-MNIST", "fashion_mnist", FASHION_MNIST_CLASSES)


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = True,
                       verify: bool = True, mirrors: Sequence[str] | None = None,
                       timeout: float = 30.0) -> Dataset:
    r"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT licence): 60,000 + 10,000 images.

    28x28 grey-scale images of ten kinds of clothing, in MNIST's IDX format and file names
    (``train-images-idx3-ubyte(.gz)`` etc.). Looks in ``data_dir`` (itself, or its
    ``fashion_mnist/``, ``fashion-mnist/`` or ``fashion/``), then
    ``$EOCTHEORY_DATA/fashion_mnist`` or ``/fashion-mnist``, then Debian's installed copy
    (:data:`FASHION_MNIST_SYSTEM_DIRS`: ``apt install dataset-fashion-mnist``), then
    :func:`cache_dir` ``("fashion_mnist")``; otherwise downloads into the cache from
    :data:`FASHION_MNIST_MIRRORS`. Parameters, checks and errors as :func:`load_mnist`; the
    MD5 checked is that of the uncompressed content (:data:`FASHION_MNIST_MD5`).
    """
    mirrors = _mirrors_and_timeout(mirrors, timeout, "FASHION_MNIST_MIRRORS")
    found, looked = find_fashion_mnist(data_dir)
    found = _fetch_idx("Fashion-MNIST", found, looked, FASHION_MNIST_MD5,
                       cache_dir("fashion_mnist"),
                       FASHION_MNIST_MIRRORS if mirrors is None else mirrors, download,
                       timeout, f", set ${ENV_VAR} (its fashion_mnist/ folder), or "
                       "apt install dataset-fashion-mnist")
    d = found.resolve()
    return _load_fashion_dir(str(d), bool(verify),
                             _signature(d, list(FASHION_MNIST_MD5), _file_in))


# --- CIFAR-10 --------------------------------------------------------------------------------
def _cifar_roots(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if data_dir is not None:
        d = Path(data_dir)
        out += [("data_dir argument", d), ("data_dir argument", d / "cifar10")]
    env = os.environ.get(ENV_VAR)
    if env:
        out += [(f"${ENV_VAR}", Path(env)), (f"${ENV_VAR}", Path(env) / "cifar10")]
    out.append(("user cache", cache_dir("cifar10")))
    return out


def find_cifar10(data_dir: str | os.PathLike | None = None) -> tuple[Path | None, list[str]]:
    """The first CIFAR-10 folder (or tarball ``cifar-10-python.tar.gz``), and where it looked.

    In each place in turn (``data_dir``, ``data_dir/cifar10``, ``$EOCTHEORY_DATA``,
    ``$EOCTHEORY_DATA/cifar10``, the cache): the place itself holding the seven files, its
    ``cifar-10-batches-py/``, then the tarball in it. Returns a directory or a tarball path.
    """
    looked = []
    names = list(CIFAR10_FILE_MD5)
    for label, root in _cifar_roots(data_dir):
        for d in (root, root / CIFAR10_FOLDER):
            looked.append(_look(d, label, names, _plain_file_in, str))
            if all(_plain_file_in(d, n) is not None for n in names):
                return d, looked
        tar = root / CIFAR10_TARBALL
        if tar.is_file():
            return tar, looked
    return None, looked


def _md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unsafe_name(name: str) -> bool:
    """An absolute name (``/x``, ``\\x``, ``C:x``) or one with a ``..`` component."""
    n = name.replace("\\", "/")
    return n.startswith("/") or bool(re.match(r"^[A-Za-z]:", n)) or ".." in n.split("/")


def _unpack_cifar10(tar_path: Path, out_dir: Path, check_md5: bool) -> None:
    """Write the seven expected files of the tarball into ``out_dir``, each atomically.

    Every member name is checked before anything is written: an absolute name or a ``..``
    component (in a name or a link target) refuses the whole tarball. Only the seven
    ``cifar-10-batches-py/<file>`` members are read, and they must be regular files; other
    members (``readme.html``, the folder entry) are skipped. Nothing is extracted by
    :mod:`tarfile` itself.
    """
    from eoctheory.files import atomic_write_bytes

    if check_md5:
        md5 = _md5_file(tar_path)
        if md5 != CIFAR10_MD5:
            raise ValueError(f"{tar_path}: MD5 is {md5}, not the published {CIFAR10_MD5} "
                             "(corrupt or not the CIFAR-10 python tarball); delete it to "
                             "download again")
    wanted = {f"{CIFAR10_FOLDER}/{n}": n for n in CIFAR10_FILE_MD5}
    try:
        with tarfile.open(tar_path, "r:gz") as tf:
            members = tf.getmembers()
            for m in members:
                if _unsafe_name(m.name) or ((m.issym() or m.islnk())
                                            and _unsafe_name(m.linkname)):
                    raise ValueError(f"{tar_path}: unsafe member {m.name!r} (absolute path "
                                     "or '..'); the tarball is refused")
            chosen = {}
            for m in members:
                key = re.sub(r"/+", "/", m.name.replace("\\", "/"))
                key = key[2:] if key.startswith("./") else key
                if key in wanted:
                    if not m.isreg():
                        raise ValueError(f"{tar_path}: member {m.name!r} is not a regular "
                                         "file; the tarball is refused")
                    if m.size > _MAX_MEMBER_BYTES:
                        raise ValueError(f"{tar_path}: member {m.name!r} is {m.size} bytes, "
                                         "too large for a CIFAR-10 batch; refused")
                    chosen[wanted[key]] = m
            missing = [f"{CIFAR10_FOLDER}/{n}" for n in CIFAR10_FILE_MD5 if n not in chosen]
            if missing:
                raise ValueError(f"{tar_path}: not the CIFAR-10 python tarball: it lacks "
                                 + ", ".join(missing))
            out_dir.mkdir(parents=True, exist_ok=True)
            for n, m in sorted(chosen.items(), key=lambda kv: kv[1].offset_data):
                f = tf.extractfile(m)
                atomic_write_bytes(out_dir / n, f.read())
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{tar_path}: truncated or corrupt tarball ({exc or 'cut short'}); "
                         "delete it to download again") from None


def _download_cifar10(root: Path, mirrors: tuple[str, ...], timeout: float) -> list[str]:
    """Fetch the tarball into a temporary file in ``root``, check its MD5, unpack it into
    ``root/cifar-10-batches-py`` and remove it (also on failure or interruption)."""
    errors = []
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"cannot create the cache {root}: {exc.strerror or exc}"]
    for base in mirrors:
        url = base + ("" if base.endswith("/") else "/") + CIFAR10_TARBALL
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{CIFAR10_TARBALL}.", suffix=".tmp")
        try:
            h = hashlib.md5()
            with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    h.update(chunk)
                    f.write(chunk)
            if h.hexdigest() != CIFAR10_MD5:
                errors.append(f"{url}: MD5 mismatch")
                continue
            _unpack_cifar10(Path(tmp), root / CIFAR10_FOLDER, check_md5=False)
            return []
        except (urllib.error.URLError, OSError, EOFError, ValueError, zlib.error) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return errors


#: The only globals a CIFAR-10 pickle may name: NumPy's array reconstruction (Python 2 and 3
#: protocols, NumPy 1 and 2 module names) and ``_codecs.encode`` (bytes in protocol 2).
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only built-in containers and NumPy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # NumPy >= 2
            module = "numpy._core." + module[len("numpy.core."):]
        return super().find_class(module, name)


def _read_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            KeyError, TypeError, ValueError, MemoryError) as exc:
        raise ValueError(f"{path}: not a CIFAR-10 python pickle ({exc or 'cut short'})"
                         ) from None


def _get(d: dict, key: str) -> Any:
    return d[key.encode()] if key.encode() in d else d.get(key)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    obj = _read_pickle(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a CIFAR-10 batch (a pickled {type(obj).__name__}, "
                         "not a dict)")
    data, labels = _get(obj, "data"), _get(obj, "labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        raise ValueError(f"{path}: b'data' is not a uint8 array of shape (n, 3072) "
                         "(corrupt or not CIFAR-10)")
    try:
        y = np.asarray(labels)
    except (TypeError, ValueError):  # pragma: no cover - ragged labels
        y = np.asarray([], dtype=object)
    if labels is None or y.shape != (len(data),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: b'labels' is not a list of {len(data)} integers "
                         "(corrupt or not CIFAR-10)")
    if y.size and (int(y.min()) < 0 or int(y.max()) > 9):
        raise ValueError(f"{path}: labels outside 0..9 (corrupt or not CIFAR-10)")
    return data.reshape(len(data), 3, 32, 32), y.astype(np.int64)


def _cifar_classes(path: Path) -> tuple:
    obj = _read_pickle(path)
    names = _get(obj, "label_names") if isinstance(obj, dict) else None
    if not (isinstance(names, list) and len(names) == 10
            and all(isinstance(n, (bytes, str)) for n in names)):
        raise ValueError(f"{path}: no list of 10 b'label_names' (corrupt or not CIFAR-10)")
    return tuple(n.decode("ascii", "replace") if isinstance(n, bytes) else n for n in names)


@lru_cache(maxsize=2)
def _load_cifar_dir(directory: str, verify: bool, signature: tuple) -> Dataset:
    d = Path(directory)
    for n, md5 in CIFAR10_FILE_MD5.items():  # before any unpickling
        path = d / n
        if not path.is_file():
            raise DataNotFoundError(f"CIFAR-10 file {n} is missing in {d}")
        if verify and _md5_file(path) != md5:
            raise ValueError(f"{path}: MD5 is not {md5} (corrupt or not CIFAR-10); delete "
                             "it to download again, or pass verify=False for a folder you "
                             "trust")
    classes = _cifar_classes(d / "batches.meta")
    parts = [_cifar_batch(d / n) for n in CIFAR10_TRAIN_BATCHES]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = _cifar_batch(d / "test_batch")
    x_test = np.ascontiguousarray(x_test)
    for a in (x_train, y_train, x_test, y_test):
        a.flags.writeable = False
    return Dataset(x_train, y_train, x_test, y_test, "cifar10", str(d), classes)


def load_cifar10(data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 verify: bool = True, mirrors: Sequence[str] | None = None,
                 timeout: float = 60.0) -> Dataset:
    r"""CIFAR-10 (Krizhevsky 2009): 50,000 train and 10,000 test 32x32 colour images.

    Returns ``x`` as uint8 arrays of shape ``(n, 3, 32, 32)``, channels first (red, green,
    blue; PyTorch's layout, and the order of the official rows: each row of 3,072 bytes is the
    1,024 red, then green, then blue values of the image in row-major order, so this is a
    reshape without a copy); ``y`` int64 in 0..9; ``classes`` from ``batches.meta``
    (``airplane`` .. ``truck``). Train is ``data_batch_1`` .. ``data_batch_5`` in order.

    Search order: see :func:`find_cifar10` (``data_dir``, ``$EOCTHEORY_DATA``, the cache
    :func:`cache_dir` ``("cifar10")``); a folder with the seven files is read in place, a
    tarball found there is checked (``verify``) and unpacked into the cache (unless the cache
    already holds the unpacked folder). Otherwise
    (``download=True``) the tarball is downloaded from :data:`CIFAR10_MIRRORS` into a
    temporary file in the cache, checked against :data:`CIFAR10_MD5` (always), unpacked
    safely into ``cifar-10-batches-py/`` and deleted.

    Safety of the pickles: the batches are Python pickles (of dicts with bytes keys
    ``b'data'``, a uint8 ``(10000, 3072)`` array, and ``b'labels'``), read with
    ``encoding="bytes"`` as the CIFAR-10 page prescribes. Unpickling runs code named in the
    file, so they are read only from a folder the caller chose (``data_dir``,
    ``$EOCTHEORY_DATA``) or the cache, which only this loader fills, from a tarball whose MD5
    was checked. On top of that, with ``verify=True`` (the default) every file's MD5 must be
    the official one (:data:`CIFAR10_FILE_MD5`) before any of them is unpickled, and in any
    case the unpickler refuses every global but NumPy's array reconstruction. Use
    ``verify=False`` only for a folder you trust (say, your own re-pickled subset).

    Parameters and errors as :func:`load_mnist` (``mirrors``: base URLs to which
    ``cifar-10-python.tar.gz`` is appended). A tarball with an absolute member name or a
    ``..`` component, a member that should be a batch but is no regular file, a missing
    batch, a corrupt pickle or wrong shapes raise ``ValueError`` naming the file.
    """
    mirrors = _mirrors_and_timeout(mirrors, timeout, "CIFAR10_MIRRORS")
    found, looked = find_cifar10(data_dir)
    root = cache_dir("cifar10")
    folder = root / CIFAR10_FOLDER
    if found is not None and found.is_file():  # a tarball: unpack it into the cache
        if all((folder / n).is_file() for n in CIFAR10_FILE_MD5):  # done before
            found = folder
    if found is not None and found.is_file():
        try:
            _unpack_cifar10(found, root / CIFAR10_FOLDER, check_md5=bool(verify))
        except OSError as exc:
            raise DataNotFoundError(f"cannot unpack {found} into {root / CIFAR10_FOLDER}: "
                                    f"{exc.strerror or exc}") from None
        found = root / CIFAR10_FOLDER
    if found is None and download:
        errors = _download_cifar10(root, CIFAR10_MIRRORS if mirrors is None else mirrors,
                                   timeout)
        if not errors and all((folder / n).is_file() for n in CIFAR10_FILE_MD5):
            found = folder
        else:
            raise DataNotFoundError(
                "CIFAR-10 not found; looked in: " + "; ".join(looked) +
                ". Download failed: " + "; ".join(errors) +
                f". Pass data_dir=..., set ${ENV_VAR}, or put {CIFAR10_TARBALL} in {root}")
    if found is None:
        raise DataNotFoundError(
            "CIFAR-10 not found; looked in: " + "; ".join(looked) +
            f" (download disabled). Pass data_dir=... or set ${ENV_VAR}")
    d = found.resolve()
    return _load_cifar_dir(str(d), bool(verify),
                           _signature(d, list(CIFAR10_FILE_MD5), _plain_file_in))


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
    """By name (:data:`DATASETS`): ``"mnist"`` (:func:`load_mnist`), ``"digits"``
    (:func:`load_digits`), ``"fashion_mnist"`` (:func:`load_fashion_mnist`) or ``"cifar10"``
    (:func:`load_cifar10`); ``kw`` goes to the loader."""
    if name == "mnist":
        return load_mnist(data_dir, **kw)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir, **kw)
    if name == "cifar10":
        return load_cifar10(data_dir, **kw)
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
