"""eoctheory.files: path checks before the work, atomic writes after it."""

from __future__ import annotations

import os
import stat

import pytest

from eoctheory.files import (atomic_output, atomic_write_bytes, atomic_write_text,
                             check_output_file, check_writable_dir)


def _is_root_like(d) -> bool:
    """chmod does not stop root (CI containers run tests as root)."""
    return os.access(d, os.W_OK)


# --- check_writable_dir -----------------------------------------------------------------
def test_writable_dir_accepts_existing_and_creatable(tmp_path):
    assert check_writable_dir(tmp_path, "--out") == tmp_path
    new = tmp_path / "a" / "b"
    assert check_writable_dir(new, "--out", create=True) == new
    assert not (tmp_path / "a").exists()  # checking creates nothing
    assert check_writable_dir(".", "--out") == type(tmp_path)(".")


@pytest.mark.parametrize("path,create,text", [
    ("", True, "needs a path"),
    (None, True, "needs a path"),
    ("{T}/missing", False, "does not exist"),
    ("{T}/afile", True, "not a directory"),
    ("{T}/afile/sub", True, "not a directory"),
    ("{T}/afile/sub/deeper", True, "not a directory"),
    ("{T}/dangling", True, "broken symbolic link"),
])
def test_writable_dir_refusals_name_the_option(tmp_path, path, create, text):
    (tmp_path / "afile").write_text("x")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    p = None if path is None else path.replace("{T}", str(tmp_path))
    with pytest.raises(ValueError, match=text) as exc:
        check_writable_dir(p, "--outdir", create=create)
    assert str(exc.value).startswith("--outdir")
    assert "\n" not in str(exc.value)


def test_writable_dir_read_only(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if _is_root_like(ro):
            pytest.skip("running as root: chmod 0o500 does not stop writes")
        with pytest.raises(ValueError, match="cannot write"):
            check_writable_dir(ro, "--outdir")
        with pytest.raises(ValueError, match="not writable"):
            check_writable_dir(ro / "new", "--outdir", create=True)
    finally:
        ro.chmod(0o700)


def test_symlinked_directory_is_a_directory(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert check_writable_dir(tmp_path / "alias", "--outdir") == tmp_path / "alias"


# --- check_output_file ------------------------------------------------------------------
def test_output_file_checks(tmp_path):
    (tmp_path / "outside.txt").write_text("keep")
    os.symlink(tmp_path / "outside.txt", tmp_path / "link.png")
    (tmp_path / "d.png").mkdir()
    sfx = (".png", ".pdf", ".svg")
    assert check_output_file(tmp_path / "x.PNG", "--plot", sfx) == tmp_path / "x.PNG"
    cases = [
        (tmp_path / "noext", "must end in .png, .pdf or .svg"),
        (tmp_path / "x.jpg", "must end in"),
        (tmp_path / "link.png", "symbolic link"),
        (tmp_path / "d.png", "is a directory"),
        (tmp_path / "missing" / "x.png", "does not exist"),
        (tmp_path / "outside.txt" / "x.png", "not a directory"),
        ("", "needs a path"),
        ("/dev/null", "not a regular file"),
    ]
    for path, text in cases:
        with pytest.raises(ValueError, match=text):
            check_output_file(path, "--plot", sfx)
    assert check_output_file(tmp_path / "missing" / "x.png", "--plot", sfx,
                             create_dir=True) == tmp_path / "missing" / "x.png"
    assert check_output_file(tmp_path / "anything", "--out") == tmp_path / "anything"


# --- atomic writes ----------------------------------------------------------------------
def test_atomic_write_text_is_byte_exact_and_replaces(tmp_path):
    p = tmp_path / "a.tex"
    atomic_write_text(p, "line 1\nline 2 \u03c4\n")
    assert p.read_bytes() == "line 1\nline 2 \u03c4\n".encode()
    atomic_write_text(p, "new\r\n")
    assert p.read_bytes() == b"new\r\n"
    assert sorted(os.listdir(tmp_path)) == ["a.tex"]


def test_atomic_write_mode_follows_umask_and_keeps_an_old_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        p = tmp_path / "new.txt"
        atomic_write_bytes(p, b"x")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        p.chmod(0o600)
        atomic_write_bytes(p, b"y")
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    finally:
        os.umask(mask)


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("must stay")
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "summary.json"
    os.symlink(outside, target)
    atomic_write_text(target, "{}\n")
    assert outside.read_text() == "must stay"
    assert not target.is_symlink() and target.read_text() == "{}\n"


def test_atomic_output_cleans_up_on_error_and_interrupt(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    for exc in (RuntimeError("renderer failed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_output(target) as tmp:
                assert tmp.endswith(".png") and os.path.dirname(tmp) == str(tmp_path)
                with open(tmp, "wb") as f:
                    f.write(b"half")
                raise exc
        assert target.read_bytes() == b"old"
        assert sorted(os.listdir(tmp_path)) == ["fig.png"]


def test_atomic_output_for_savefig(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    with atomic_output(tmp_path / "f.svg") as tmp:
        fig.savefig(tmp)  # the format comes from the temporary name's suffix
    assert (tmp_path / "f.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert sorted(os.listdir(tmp_path)) == ["f.svg"]


def test_atomic_write_into_a_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "missing" / "x.txt", "x")
    assert os.listdir(tmp_path) == []
