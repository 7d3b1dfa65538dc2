r"""Safe output files: check before the work, write atomically after it.

Every writer of the package (figures, ``simulate --plot``, ``latex --write-derivations``,
training logs, sweep tables, the MNIST download) goes through this module:

* before a long computation, :func:`check_writable_dir` / :func:`check_output_file` refuse a
  bad path with one ``ValueError`` naming the option: an empty name, a missing or
  read-only directory, a target that is a directory, a symbolic link or a device, or a
  suffix the writer does not produce;
* after it, :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_output`
  write a temporary file in the target's directory and move it into place with
  :func:`os.replace`. A reader never sees half a file, a failed write leaves no temporary
  file behind, and a symbolic link planted at the target name is replaced, not followed
  (the file it points to is left alone).

Examples
--------
>>> import os, tempfile
>>> from eoctheory.files import atomic_write_text, check_output_file
>>> d = tempfile.mkdtemp()
>>> p = check_output_file(os.path.join(d, "a.txt"), "--out", (".txt",))
>>> atomic_write_text(p, "hello\n")
>>> open(p).read()
'hello\n'
>>> check_output_file(os.path.join(d, "a"), "--out", (".txt",))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: --out must end in .txt (got ...)
>>> import shutil; shutil.rmtree(d)
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_file",
    "check_writable_dir",
]


def _nonempty(path, name: str) -> Path:
    if path is None or str(path).strip() == "":
        raise ValueError(f"{name} needs a path (got {'' if path is None else str(path)!r}); "
                         "use . for the current directory")
    return Path(path)


def check_writable_dir(path: str | os.PathLike, name: str, *, create: bool = False) -> Path:
    """Check that files can be written in the directory ``path``; returns it as a Path.

    Parameters
    ----------
    path : str or path-like
        The directory. An empty string is refused (it would silently mean ``.``).
    name : str
        The option or parameter named in the error (``"--outdir"``).
    create : bool, default False
        The directory may be missing if the nearest existing ancestor is a writable
        directory (the writer creates it later, after its computation; nothing is created
        here).

    Raises
    ------
    ValueError
        One line naming ``name``: empty, not a directory, missing (``create=False``), not
        writable, or not creatable.
    """
    p = _nonempty(path, name)
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{name}: cannot write in {p} (permission denied or read-only)")
        return p
    if p.is_symlink():
        raise ValueError(f"{name}: {p} is a broken symbolic link, not a directory")
    if p.exists():
        raise ValueError(f"{name}: {p} exists and is not a directory")
    if not create:
        raise ValueError(f"{name}: directory {p} does not exist")
    anc = p.absolute().parent
    while not anc.exists() and not anc.is_symlink() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise ValueError(f"{name}: cannot create {p}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: cannot create {p}: {anc} is not writable "
                         "(permission denied or read-only)")
    return p


def check_output_file(path: str | os.PathLike, name: str,
                      suffixes: Sequence[str] | None = None, *,
                      create_dir: bool = False) -> Path:
    """Check that the file ``path`` can be written; returns it as a Path.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    name : str
        The option named in the error (``"--plot"``).
    suffixes : sequence of str, optional
        Allowed suffixes, with the dot (``(".png", ".pdf", ".svg")``; case-insensitive).
    create_dir : bool, default False
        Whether the writer creates a missing parent directory (see
        :func:`check_writable_dir`).

    Raises
    ------
    ValueError
        One line naming ``name``: empty, a directory, a symbolic link, not a regular file,
        a suffix not in ``suffixes``, or a directory that cannot be written.
    """
    p = _nonempty(path, name)
    if p.is_symlink():
        raise ValueError(f"{name}: {p} is a symbolic link; remove it or choose another name "
                         "(links are not followed)")
    if p.is_dir():
        raise ValueError(f"{name}: {p} is a directory; give a file name")
    if p.exists() and not stat.S_ISREG(p.stat().st_mode):
        raise ValueError(f"{name}: {p} exists and is not a regular file")
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if p.suffix.lower() not in allowed:
            listed = (", ".join(allowed[:-1]) + " or " + allowed[-1]) if len(allowed) > 1 \
                else allowed[0]
            raise ValueError(f"{name} must end in {listed} (got {str(path)!r})")
    check_writable_dir(p.parent, f"{name} {p}", create=create_dir)
    return p


def _mode_for(target: Path) -> int:
    """Permissions of the new file: the old file's, else 0o666 minus the umask."""
    try:
        st = os.lstat(target)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success move it to ``path``.

    For writers that need a file name (``Figure.savefig``). The temporary name keeps the
    suffix of ``path`` (``.x.png.XXXX.tmp.png``), so writers that infer the format from it
    still work. On any exception (``KeyboardInterrupt`` included) the temporary file is
    removed and ``path`` is untouched. A symbolic link at ``path`` is replaced by the new
    file, not followed. The parent directory must exist.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".",
                               prefix=f".{target.name}.", suffix=".tmp" + target.suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    r"""Write ``text`` to ``path`` atomically, byte for byte (``\n`` stays ``\n`` everywhere)."""
    atomic_write_bytes(path, text.encode(encoding))
