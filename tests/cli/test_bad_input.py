"""Bad input on every command: one line on stderr, exit 2, nothing written, no work done.

The project's rule (issue 11): a user mistake -- an out-of-range parameter, a contradictory
pair of options, a size that cannot fit in memory or would run for hours, an unwritable or
unsafe output path -- gets ONE line naming the option, exit status 2, BEFORE any long
computation, and nothing half-written. Each row of ``ROWS`` runs the real command in a
subprocess (so exit status, stderr and tracebacks are what a user sees) from an empty
working directory, and checks all of that.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Wall-time bound of a refusal. Starting Python and importing numpy/scipy/sympy takes
#: 0.5-2 s on a loaded 2-core CI machine; every refused request here would take minutes to
#: forever (or a MemoryError) if it started its work, so a few seconds proves the refusal
#: happened before the work.
FAST = 10.0

MAIN = ("-m", "eoctheory")
FIGURES = ("-m", "eoctheory.figures")
TRAIN = ("-m", "eoctheory.experiments.train")
SWEEP = ("-m", "eoctheory.experiments.sweep")


def _env(**extra: str) -> dict:
    """The environment of a run: this checkout first, default limits, headless plots."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOCTHEORY_")}
    env.update(PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    env.update(extra)
    return env


def _run(module: tuple, args: list[str], cwd: Path, env: dict | None = None):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *module, *args], cwd=cwd, env=env or _env(),
                       capture_output=True, text=True, timeout=300)
    return r, time.perf_counter() - t0


def _snapshot(root: Path) -> dict:
    """Every path under root (links not followed) with a digest of each file's bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p)] = "link->" + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "dir"
    return out


@pytest.fixture
def place(tmp_path):
    """An empty working directory and the traps the rows point at.

    ``afile``: a regular file (a path under it fails for root too); ``outside.txt``: a file a
    planted link points to; ``link.png``: that link; ``adir.png``: a directory with a file's
    name; ``figs/fig2.png``, ``deriv/main.tex``: links planted in output directories; ``ro``: a
    read-only directory (writable anyway for root: those rows skip then).
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "afile").write_text("a regular file\n")
    (tmp_path / "outside.txt").write_text("must stay unchanged\n")
    os.symlink(tmp_path / "outside.txt", tmp_path / "link.png")
    (tmp_path / "adir.png").mkdir()
    (tmp_path / "figs").mkdir()
    os.symlink(tmp_path / "outside.txt", tmp_path / "figs" / "fig2.png")
    (tmp_path / "deriv").mkdir()
    os.symlink(tmp_path / "outside.txt", tmp_path / "deriv" / "main.tex")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    yield tmp_path
    ro.chmod(0o700)


SIM = ["relu", "--sparsity", "0.6"]
TR = ["--activation", "relu", "--sparsity", "0.6", "--dataset", "digits"]

#: (id, module, argv with {T} for the tmp directory, text the one line must contain)
ROWS = [
    # --- check ---------------------------------------------------------------------------
    ("check-huge-depth", MAIN, ["check", "relu", "--sparsity", "0.6", "--width", "1e9",
                                "--depth", "1e6"], "memory"),
    ("check-width-0", MAIN, ["check", "relu", "--width", "0", "--depth", "5"], "--width"),
    ("check-width-fraction", MAIN, ["check", "relu", "--width", "2.5", "--depth", "5"],
     "integer"),
    ("check-width-alone", MAIN, ["check", "relu", "--width", "300"], "go together"),
    ("check-sparsity", MAIN, ["check", "relu", "--sparsity", "1.5"], "sparsity must be in (0, 1)"),
    ("check-risk", MAIN, ["check", "relu", "--risk", "2"], "--risk"),
    # --- latex ---------------------------------------------------------------------------
    ("latex-empty-dir", MAIN, ["latex", "--write-derivations", ""], "needs a path"),
    ("latex-dir-under-file", MAIN, ["latex", "--write-derivations", "{T}/afile/d"],
     "not a directory"),
    ("latex-dir-is-file", MAIN, ["latex", "--write-derivations", "{T}/afile"],
     "not a directory"),
    ("latex-read-only", MAIN, ["latex", "--write-derivations", "{T}/ro/d"], "not writable"),
    ("latex-target-symlink", MAIN, ["latex", "--write-derivations", "{T}/deriv"],
     "symbolic link"),
    ("latex-activation-and-write", MAIN, ["latex", "relu", "--write-derivations", "d"],
     "ACTIVATION"),
    ("latex-nothing", MAIN, ["latex"], "ACTIVATION"),
    # --- simulate ------------------------------------------------------------------------
    ("simulate-width-1e5", MAIN, ["simulate", *SIM, "--width", "100000"], "memory"),
    ("simulate-seeds-1e9", MAIN, ["simulate", *SIM, "--seeds", "1e9"], "memory"),
    ("simulate-seeds-1e6", MAIN, ["simulate", *SIM, "--seeds", "1e6"], "would take"),
    ("simulate-depth-1e8", MAIN, ["simulate", *SIM, "--depth", "1e8"], "memory"),
    ("simulate-width-1", MAIN, ["simulate", *SIM, "--width", "1"], "--width"),
    ("simulate-seeds-fraction", MAIN, ["simulate", *SIM, "--seeds", "1.5"], "--seeds"),
    ("simulate-rho", MAIN, ["simulate", *SIM, "--rho", "2"], "rho"),
    ("simulate-channels-0", MAIN, ["simulate", *SIM, "--cnn", "--channels", "0"],
     "--channels"),
    ("simulate-channels-no-cnn", MAIN, ["simulate", *SIM, "--channels", "8"], "--cnn"),
    ("simulate-kernel-no-cnn", MAIN, ["simulate", *SIM, "--kernel", "5"], "--cnn"),
    ("simulate-kernel-even", MAIN, ["simulate", *SIM, "--cnn", "--kernel", "2"], "odd"),
    ("simulate-cnn2d-kernel-even", MAIN, ["simulate", *SIM, "--arch", "cnn2d", "--kernel",
                                          "4"], "odd"),
    ("simulate-cnn2d-image-small", MAIN, ["simulate", *SIM, "--arch", "cnn2d", "--kernel",
                                          "5", "--image", "4"], "--image"),
    ("simulate-cnn2d-huge", MAIN, ["simulate", *SIM, "--arch", "cnn2d", "--channels",
                                   "4096", "--image", "256"], "memory"),
    ("simulate-plot-missing-dir", MAIN, ["simulate", *SIM, "--plot", "/nonexistent/x.png"],
     "does not exist"),
    ("simulate-plot-no-suffix", MAIN, ["simulate", *SIM, "--plot", "noext"], ".png"),
    ("simulate-plot-bad-suffix", MAIN, ["simulate", *SIM, "--plot", "x.jpg"], ".png"),
    ("simulate-plot-empty", MAIN, ["simulate", *SIM, "--plot", ""], "needs a path"),
    ("simulate-plot-under-file", MAIN, ["simulate", *SIM, "--plot", "{T}/afile/x.png"],
     "not a directory"),
    ("simulate-plot-is-dir", MAIN, ["simulate", *SIM, "--plot", "{T}/adir.png"],
     "is a directory"),
    ("simulate-plot-symlink", MAIN, ["simulate", *SIM, "--plot", "{T}/link.png"],
     "symbolic link"),
    ("simulate-plot-device", MAIN, ["simulate", *SIM, "--plot", "/dev/null"],
     "not a regular file"),
    ("simulate-plot-read-only", MAIN, ["simulate", *SIM, "--plot", "{T}/ro/x.png"],
     "cannot write"),
    ("simulate-grad-limit", MAIN, ["simulate", *SIM, "--grad-limit", "1"], "--grad-limit"),
    # --- recommend -----------------------------------------------------------------------
    ("recommend-m-and-width", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--m", "1.6",
                                     "--width", "300", "--depth", "100"], "--width"),
    ("recommend-max-width-without-m", MAIN, ["recommend", "cst", "--sparsity", "0.8",
                                             "--width", "300", "--depth", "10",
                                             "--max-width", "1000"], "--max-width"),
    ("recommend-no-width", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--depth", "10"],
     "--width"),
    ("recommend-huge-depth", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "300",
                                    "--depth", "1e6"], "memory"),
    ("recommend-m-no-clipping", MAIN, ["recommend", "relu", "--sparsity", "0.8", "--m", "1",
                                       "--depth", "10"], "clipping"),
    ("recommend-width-0", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "0",
                                 "--depth", "10"], "--width"),
    ("recommend-margin-0", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "300",
                                  "--depth", "100", "--margin", "0"], "--margin must be in (0, 1]"),
    ("recommend-margin-1.5", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "300",
                                    "--depth", "100", "--margin", "1.5"],
     "--margin must be in (0, 1]"),
    ("recommend-margin-with-m", MAIN, ["recommend", "cst", "--sparsity", "0.8", "--m", "1.6",
                                       "--depth", "100", "--margin", "1.5"], "--margin"),
    # --- figures -------------------------------------------------------------------------
    ("figures-outdir-under-file", FIGURES, ["fig2", "--outdir", "{T}/afile/figs"],
     "not a directory"),
    ("figures-outdir-empty", FIGURES, ["fig2", "--outdir", ""], "needs a path"),
    ("figures-outdir-read-only", FIGURES, ["fig2", "--outdir", "{T}/ro/figs"],
     "not writable"),
    ("figures-target-symlink", FIGURES, ["fig2", "--outdir", "{T}/figs", "--format", "png"],
     "symbolic link"),
    ("figures-dpi-0", FIGURES, ["fig2", "--dpi", "0"], "--dpi"),
    ("figures-dpi-huge", FIGURES, ["fig2", "--dpi", "100000"], "--dpi"),
    ("figures-format", FIGURES, ["fig2", "--format", "png,gif"], "format"),
    ("figures-name", FIGURES, ["nosuch"], "unknown figure"),
    # --- train (validation, memory and paths come before torch is even imported) -------
    ("train-width-1e5", TRAIN, [*TR, "--width", "100000", "--out", "{T}/run"], "memory"),
    ("train-out-under-file", TRAIN, [*TR, "--out", "{T}/afile/run"], "--out"),
    ("train-out-empty", TRAIN, [*TR, "--out", ""], "out"),
    ("train-custom-no-expr", MAIN, ["train", "custom", "--out", "{T}/run"], "needs expr"),
    ("train-depth-0", TRAIN, [*TR, "--depth", "0"], "--depth"),
    ("train-dataset", TRAIN, ["--activation", "relu", "--sparsity", "0.6", "--dataset",
                              "cifar", "--out", "{T}/run"], "dataset"),
    # --- sweep ---------------------------------------------------------------------------
    ("sweep-setting", SWEEP, ["--settings", "bogus", "--out", "{T}/sw"], "settings"),
    ("sweep-seeds-0", SWEEP, ["--settings", "relu:0.6", "--seeds", "0", "--out", "{T}/sw"],
     "--seeds"),
    ("sweep-seeds-1e9", SWEEP, ["--settings", "relu:0.6", "--seeds", "1e9", "--out",
                                "{T}/sw"], "--seeds"),
    ("sweep-workers-0", SWEEP, ["--settings", "relu:0.6", "--workers", "0", "--out",
                                "{T}/sw"], "--workers"),
    ("sweep-out-under-file", SWEEP, ["--settings", "relu:0.6", "--out", "{T}/afile/sw"],
     "--out"),
    ("sweep-width-1e5", SWEEP, ["--settings", "relu:0.6", "--width", "100000", "--out",
                                "{T}/sw"], "memory"),
]


@pytest.mark.parametrize("module,argv,text", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_line_exit_2_before_any_work(place, module, argv, text):
    if any("{T}/ro" in a for a in argv) and os.access(place / "ro", os.W_OK):
        pytest.skip("running as root: a chmod 0o500 directory is still writable")
    args = [a.replace("{T}", str(place)) for a in argv]
    before = _snapshot(place)
    r, seconds = _run(module, args, place / "cwd")
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert text in lines[0], lines[0]
    assert "error" in lines[0]
    assert r.stdout == ""
    assert _snapshot(place) == before  # nothing written, created or followed
    assert seconds < FAST, f"took {seconds:.1f} s: the refusal came after some work"


# --- no torch ---------------------------------------------------------------------------
@pytest.fixture
def no_torch(tmp_path):
    """A PYTHONPATH entry whose ``torch`` fails to import as a missing torch does."""
    d = tmp_path / "notorch"
    (d / "torch").mkdir(parents=True)
    (d / "torch" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    return str(d)


@pytest.mark.parametrize("module,argv", [
    (TRAIN, [*TR, "--epochs", "1", "--out", "{T}/run"]),
    (SWEEP, ["--settings", "relu:0.6", "--seeds", "1", "--dataset", "digits", "--out",
             "{T}/sw"]),
], ids=["train", "sweep"])
def test_without_torch_one_line_and_exit_2(tmp_path, no_torch, module, argv):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = [a.replace("{T}", str(tmp_path)) for a in argv]
    env = _env()
    env["PYTHONPATH"] = no_torch + os.pathsep + env["PYTHONPATH"]
    r, seconds = _run(module, args, cwd, env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "torch is not installed: pip install torch" in r.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "sw").exists()
    assert list(cwd.iterdir()) == []
    assert seconds < FAST


# --- a reader that closes the pipe early ------------------------------------------------
@pytest.mark.parametrize("module,argv", [
    (MAIN, ["check", "relu", "--sparsity", "0.6", "--json"]),
    (MAIN, ["latex", "relu"]),
    (MAIN, ["--help"]),
    (FIGURES, ["--list"]),
    (TRAIN, ["--help"]),
    (SWEEP, ["--help"]),
], ids=["check-json", "latex", "main-help", "figures-list", "train-help", "sweep-help"])
def test_closed_stdout_is_quiet(tmp_path, module, argv):
    """``... | head -0``: exit 141 (128 + SIGPIPE) with nothing on stderr, no traceback.

    (``--help`` may exit 0: argparse itself ignores errors writing the help text.)
    """
    p = subprocess.Popen([sys.executable, *module, *argv], cwd=tmp_path, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the command prints
    _, err = p.communicate(timeout=300)
    assert p.returncode in ((0, 141) if "--help" in argv else (141,)), err.decode()
    assert err.decode() == ""


# --- not an error: a valid request whose answer is "nothing is safe" --------------------
def test_recommend_not_safe_at_width_2_prints_an_answer(tmp_path):
    """Was a TypeError traceback (formatting the smallest safe m, None when nothing is safe).
    The answer is printed in full; the exit code 4 (EXIT_UNSTABLE) says NOT SAFE."""
    r, _ = _run(MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "2", "--depth",
                       "100"], tmp_path)
    assert r.returncode == 4, r.stderr
    assert "NOT SAFE" in r.stdout and r.stderr == ""
    r, _ = _run(MAIN, ["recommend", "cst", "--sparsity", "0.8", "--width", "2", "--depth",
                       "100", "--json"], tmp_path)
    assert r.returncode == 4, r.stderr
    d = json.loads(r.stdout)
    assert d["safe"] is False and d["m_min_safe"] is None and d["verdict"] == "unstable"


def test_integers_written_as_floats_are_accepted(tmp_path):
    """``--depth 2e0`` means 2 (argparse's int() refused it); fractions are refused above."""
    r, _ = _run(MAIN, ["simulate", *SIM, "--width", "1.6e1", "--depth", "2e0", "--seeds",
                       "1", "--json", "--no-gradients"], tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["config"]["width"] == 16 and d["config"]["depth"] == 2


# --- good output paths ------------------------------------------------------------------
def test_simulate_plot_writes_exactly_the_named_file(tmp_path):
    r, _ = _run(MAIN, ["simulate", *SIM, "--width", "16", "--depth", "3", "--seeds", "1",
                       "--plot", "q.PDF"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "wrote q.PDF" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.PDF"]  # no temporary left
    assert (tmp_path / "q.PDF").read_bytes()[:5] == b"%PDF-"


def test_write_derivations_into_current_directory_with_dot(tmp_path):
    """``.`` is the way to say the current directory (``''`` is refused above)."""
    r, _ = _run(MAIN, ["latex", "--write-derivations", ".", "--cdf", "phi"], tmp_path)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "main.tex" in names and all(n.endswith(".tex") for n in names)


def test_limits_can_be_lowered_by_environment(tmp_path):
    """EOCTHEORY_MAX_MEMORY turns a default-size run into a refusal (and names itself)."""
    r, _ = _run(MAIN, ["simulate", *SIM], tmp_path, _env(EOCTHEORY_MAX_MEMORY="1M"))
    assert r.returncode == 2
    assert "EOCTHEORY_MAX_MEMORY" in r.stderr and r.stderr.count("\n") == 1
    r, _ = _run(MAIN, ["simulate", *SIM], tmp_path, _env(EOCTHEORY_MAX_MEMORY="lots"))
    assert r.returncode == 2 and "EOCTHEORY_MAX_MEMORY" in r.stderr


def test_write_derivations_refuses_an_empty_directory_name_before_deriving():
    """The library edge too (Path('') would silently be the current directory)."""
    from eoctheory.latex.document import write_derivations

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="needs a path"):
        write_derivations("")
    assert time.perf_counter() - t0 < 1.0
