"""The command line's conventions, checked on every parser: help text for every option,
examples in every ``--help`` that parse, one name and metavar per option across commands,
``--version``, the program's own name, ``--quiet`` and progress on stderr only.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import eoctheory
cli = importlib.import_module("eoctheory.cli.main")  # the package's ``main`` is the function
from eoctheory.cli.progress import Bar, enabled, status, with_status

ROOT = Path(__file__).resolve().parents[2]
# older spellings kept working but not listed in --help (each: its command and its new name)
HIDDEN_ALIASES = {("simulate", "--kernel"): "--kernel-size",
                  ("simulate", "--cnn"): "--arch cnn1d",
                  ("train", "--no-progress"): "--quiet",
                  ("sweep", "--no-progress"): "--quiet"}
PROG = "eoctheory"


@pytest.fixture(scope="module")
def parsers():
    """The top-level parser and each command's."""
    top = cli.build_parser(PROG)
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return top, {name: sub.choices[name] for name in cli.COMMANDS}


def _shown_metavar(action: argparse.Action) -> str | None:
    """What ``--help`` prints for the action's value (None: a flag or a choice list)."""
    if action.nargs == 0 or action.choices is not None:
        return None
    if action.metavar is not None:
        return action.metavar
    return action.dest.upper() if action.option_strings else action.dest


def test_every_option_has_help_text(parsers):
    top, cmds = parsers
    for name, p in [("", top), *cmds.items()]:
        for a in p._actions:
            key = (name, a.option_strings[0] if a.option_strings else a.dest)
            if a.help == argparse.SUPPRESS:
                assert key in HIDDEN_ALIASES, f"{key} is hidden but not a known alias"
                continue
            assert a.help and a.help.strip(), f"{name or 'top level'}: {key[1]} has no help"


def test_every_help_ends_with_examples_that_parse(parsers):
    top, cmds = parsers
    for name, p in [("", top), *cmds.items()]:
        text = p.format_help()
        assert "\nexamples:\n" in text, name
        assert "\nexit codes:\n" in text, name  # the existing sections stay
        block = text.split("\nexamples:\n", 1)[1]
        lines = [ln.strip() for ln in block.splitlines() if ln.startswith(f"  {PROG} ")]
        assert len(lines) >= 2, name
        for line in lines:
            argv = shlex.split(line)[1:]
            if argv[-1] == "--help":
                continue
            args = top.parse_args(argv)  # a bad example exits 2 here
            assert args.command == (name or args.command)


def test_one_name_and_metavar_per_option(parsers):
    _, cmds = parsers
    seen: dict[str, tuple[str, str | None]] = {}
    for name, p in cmds.items():
        for a in p._actions:
            if a.help == argparse.SUPPRESS or not a.option_strings:
                if not a.option_strings:  # the positional activation is ACTIVATION
                    assert _shown_metavar(a) in ("ACTIVATION", "COMMAND"), (name, a.dest)
                continue
            opt, mv = a.option_strings[0], _shown_metavar(a)
            if mv is not None:
                assert re.fullmatch(r"[A-Z][A-Z0-9_]*(=[A-Z]+)?|NAME\[:S\[:SLOPE\]\]", mv), \
                    (name, opt, mv)
            if opt in seen:
                assert seen[opt][1] == mv, (opt, seen[opt], (name, mv))
            seen[opt] = (name, mv)
    # the scheme: the paper's symbols for the setting and the network
    expect = {"--sparsity": "S", "--tau": "TAU", "--m": "M", "--target-slope": "SLOPE",
              "--q-star": "Q", "--width": "N", "--depth": "L", "--out": "DIR",
              "--data-dir": "DIR", "--plot": "FILE", "--expr": "EXPR", "--param": "NAME=VALUE"}
    for opt, mv in expect.items():
        assert seen[opt][1] == mv, (opt, seen[opt])


def test_hidden_aliases_still_work(parsers):
    top, _ = parsers
    a = top.parse_args(["simulate", "relu", "--cnn", "--kernel", "5"])
    assert a.cnn and a.kernel_size == 5
    assert top.parse_args(["simulate", "relu", "--kernel-size", "5"]).kernel_size == 5
    for cmd in (["train", "relu"], ["sweep"]):
        assert top.parse_args(cmd + ["--no-progress"]).quiet
        assert top.parse_args(cmd + ["-q"]).quiet
        assert not top.parse_args(cmd).quiet
    for name in cli.PROGRESS_COMMANDS:
        argv = [name] + ([] if name == "sweep" else ["relu"])
        argv += {"recommend": ["--sparsity", "0.5", "--depth", "3"]}.get(name, [])
        assert top.parse_args(argv + ["--quiet"]).quiet, name


def test_version_and_program_name(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"{cli.prog_name()} {eoctheory.__version__}\n"
    assert cli.prog_name() == "eoctheory"  # under pytest: not run as python -m eoctheory
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["version"] == eoctheory.__version__
    assert meta["scripts"]["eoctheory"] == "eoctheory.__main__:main"
    assert "tqdm" in " ".join(meta["dependencies"])
    assert cli.prog_name("/usr/lib/python3/site-packages/eoctheory/__main__.py") == \
        "python -m eoctheory"
    assert cli.prog_name("/home/u/.venv/bin/eoctheory") == "eoctheory"
    assert cli.prog_name("/usr/lib/python3/site-packages/pytest/__main__.py") == "eoctheory"
    assert cli.build_parser("eoctheory").format_usage().startswith("usage: eoctheory [")
    # run as a module: the usage line and the examples name "python -m eoctheory"
    out = subprocess.run([sys.executable, "-m", "eoctheory", "latex", "--help"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.startswith("usage: python -m eoctheory latex")
    assert "\n  python -m eoctheory latex relu" in out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_not_quiet():
    assert not enabled(stream=io.StringIO()) and enabled(stream=_Tty())
    assert not enabled(True, _Tty())
    for stream, quiet, shown in ((_Tty(), False, True), (_Tty(), True, False),
                                 (io.StringIO(), False, False)):
        with Bar(3, "work", quiet=quiet, stream=stream) as bar:
            for k in range(3):
                bar(k + 1, 3)
            bar.write("a finished step")
        text = stream.getvalue()
        assert ("work" in text) == shown
        assert ("a finished step" in text) == (not quiet)  # a log line unless --quiet
        s = _Tty() if shown else stream.__class__()
        with status("slow call", quiet=quiet, delay=0.0, interval=0.01, stream=s):
            import time
            time.sleep(0.05)
        assert ("slow call" in s.getvalue()) == shown
        if shown:  # erased at the end
            assert s.getvalue().endswith("\r")


def test_with_status_returns_the_result_and_raises_through():
    assert with_status("x", lambda a, b=1: a + b, quiet=True)(1, b=2) == 3
    with pytest.raises(ValueError):
        with_status("x", lambda: int("no"))()


def test_progress_never_reaches_stdout(capsys, monkeypatch):
    """A terminal on stderr: the bar goes there; stdout is the JSON object alone."""
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    rc = cli.main(["simulate", "relu", "--sparsity", "0.6", "--seeds", "2", "--depth", "3",
                   "--width", "8", "--batch", "4", "--json"])
    assert rc == 0
    json.loads(capsys.readouterr().out)
    assert "simulate" in tty.getvalue()
    tty2 = _Tty()
    monkeypatch.setattr(sys, "stderr", tty2)
    assert cli.main(["simulate", "relu", "--sparsity", "0.6", "--seeds", "2", "--depth",
                     "3", "--width", "8", "--batch", "4", "--json", "--quiet"]) == 0
    json.loads(capsys.readouterr().out)
    assert tty2.getvalue() == ""
