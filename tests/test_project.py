"""Project hygiene: the README's two commands, CI running the test one verbatim, the API."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import eoctheory

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("## Two commands for a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", block)


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    cmds = _readme_commands()
    assert len(cmds) == 2
    main, tests = cmds
    assert "python -m eoctheory.figures" in main and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci  # verbatim, as one line


def test_public_api_is_explicit():
    for name in eoctheory.__all__:
        assert hasattr(eoctheory, name), name
    out = subprocess.run([sys.executable, "-c", "import sys, eoctheory; "
                          "print('matplotlib' in sys.modules, 'torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]  # importing eoctheory stays cheap
