"""``latex --write-derivations``: it writes where the user says, or into the derivations/
folder of the eoctheory checkout around the current directory, and refuses (one stderr line,
exit 2, nothing created) outside one.

The (slow) document writer is replaced by a stub that records its directory: what it writes
is tested in tests/latex/test_latex.py; here only where it goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eoctheory.latex.document as document
from eoctheory.cli.latex import repository_derivations
from eoctheory.cli.main import main


@pytest.fixture
def written(monkeypatch) -> list[Path]:
    """The directories that ``write_derivations`` was asked to write (nothing is derived)."""
    calls: list[Path] = []

    def stub(directory, cdf="phi", families=None):
        calls.append(Path(directory).resolve())
        return [Path(directory) / "main.tex"]

    monkeypatch.setattr(document, "write_derivations", stub)
    return calls


def _checkout(root: Path) -> Path:
    """A minimal eoctheory checkout at ``root``: what :func:`repository_derivations` looks for."""
    (root / "derivations").mkdir(parents=True)
    (root / "eoctheory").mkdir()
    (root / "eoctheory" / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text("[project]\nname = 'eoctheory'\n")
    return root / "derivations"


def test_repository_derivations_found_from_below_and_not_elsewhere(tmp_path):
    assert repository_derivations(tmp_path) is None
    deriv = _checkout(tmp_path / "repo")
    deep = tmp_path / "repo" / "eoctheory" / "sub"
    deep.mkdir()
    assert repository_derivations(deep) == deriv
    assert repository_derivations(tmp_path / "repo") == deriv
    # a bare derivations/ folder is not a checkout
    (tmp_path / "other" / "derivations").mkdir(parents=True)
    assert repository_derivations(tmp_path / "other") is None


def test_outside_a_checkout_it_refuses_and_creates_nothing(tmp_path, monkeypatch, capsys,
                                                           written):
    monkeypatch.chdir(tmp_path)
    assert main(["latex", "--write-derivations"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "--write-derivations DIR" in err and "Traceback" not in err
    assert written == [] and list(tmp_path.iterdir()) == []


def test_explicit_directory_is_used_anywhere(tmp_path, monkeypatch, capsys, written):
    monkeypatch.chdir(tmp_path)
    assert main(["latex", "--write-derivations", "out/tex"]) == 0
    assert written == [(tmp_path / "out" / "tex").resolve()]
    assert capsys.readouterr().out.split() == ["out/tex/main.tex"]


def test_inside_a_checkout_it_writes_the_checkouts_folder(tmp_path, monkeypatch, capsys,
                                                          written):
    deriv = _checkout(tmp_path / "repo")
    monkeypatch.chdir(tmp_path / "repo" / "eoctheory")
    assert main(["latex", "--write-derivations"]) == 0
    assert written == [deriv.resolve()]
    assert capsys.readouterr().out.split() == ["../derivations/main.tex"]
