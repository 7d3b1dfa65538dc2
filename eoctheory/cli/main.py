"""``python -m eoctheory COMMAND``: the command-line front end.

Each command lives in its own module ``eoctheory/cli/<name>.py`` exposing

* ``HELP``: one line for the command list,
* ``add_arguments(parser)``: its options,
* ``run(args) -> int``: does the work, returns the exit code;
* optionally ``EPILOG`` (text after the options in ``--help``: the JSON keys of
  ``--json``, written from the command's ``JSON_KEYS`` dict, which a test compares with
  the printed JSON) and ``EXIT_CODES`` (code -> meaning, for codes the command gives
  beyond 0/1/2/130/141);
* ``EXAMPLES``: ``(command line without the program name, what it does)`` pairs, printed
  last in ``--help`` after the program's own name (:func:`prog_name`: ``eoctheory`` for the
  console script, ``python -m eoctheory`` for the module).

The commands of :data:`PROGRESS_COMMANDS` also get ``--quiet``: their progress goes to stderr
only when it is a terminal (:mod:`eoctheory.cli.progress`), never to stdout. ``--version``
prints ``eoctheory.__version__``.

Modules are imported only for the command that runs, so ``--help`` and errors stay fast.

Exit codes (0, 1, 2, 130 and 141 are the same for ``python -m eoctheory.figures`` and the
experiment scripts; named below, :data:`EXIT_CODES`, and listed in every command's
``--help``):

* 0: done (``check``: the verdict is "stable"; ``recommend``: a setting meeting ``--risk``
  was found);
* 1: the environment failed after the checks (a disk full, out of memory): one line;
* 2: a user mistake (bad options, an out-of-range parameter, an unreachable target, a size
  over the resource limits of :mod:`eoctheory.limits`, an unwritable output path): one line
  on stderr, no traceback, found before any long computation, nothing written;
* 3 (``check`` only): the verdict is "marginal" (:data:`EXIT_MARGINAL`);
* 4: ``check``: the verdict is "unstable"; ``recommend``: NOT SAFE, nothing meets ``--risk``
  (:data:`EXIT_UNSTABLE`). Both are printed in full first (with or without ``--json``), so a
  script can gate on the verdict: ``python -m eoctheory check ... || exit``;
* 130: interrupted (Ctrl-C);
* 141: stdout was closed early (``... --json | head``): stopped quietly, as a process killed
  by SIGPIPE (128 + 13).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

#: Exit code: done (``check``: verdict "stable"; ``recommend``: a safe setting was found).
EXIT_OK = 0
#: Exit code: the environment failed after the checks (disk full, out of memory).
EXIT_ENVIRONMENT = 1
#: Exit code: a user mistake (one line on stderr, nothing done).
EXIT_USAGE = 2
#: Exit code of ``check``: the verdict is "marginal" (printed in full first).
EXIT_MARGINAL = 3
#: Exit code of ``check``: the verdict is "unstable"; of ``recommend``: NOT SAFE.
EXIT_UNSTABLE = 4
#: Exit code after Ctrl-C.
EXIT_INTERRUPTED = 130
#: Exit code after stdout was closed by its reader (128 + SIGPIPE).
BROKEN_PIPE_EXIT = 141

#: The exit code of each verdict of ``check`` (and of ``recommend``'s ``safe``).
VERDICT_EXIT = {"stable": EXIT_OK, "marginal": EXIT_MARGINAL, "unstable": EXIT_UNSTABLE}

#: Every exit code with its meaning (the ``--help`` epilogs are written from this).
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_ENVIRONMENT: "the environment failed (disk full, out of memory)",
    EXIT_USAGE: "a user mistake (bad option or value, size over the limits): one line on "
                "stderr, nothing done",
    EXIT_MARGINAL: "check: verdict marginal",
    EXIT_UNSTABLE: "check: verdict unstable; recommend: NOT SAFE (nothing meets --risk)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    BROKEN_PIPE_EXIT: "stdout closed early (... | head)",
}


def _load(name: str) -> ModuleType:
    if name == "check":
        from eoctheory.cli import check as mod
    elif name == "latex":
        from eoctheory.cli import latex as mod
    elif name == "simulate":
        from eoctheory.cli import simulate as mod
    elif name == "recommend":
        from eoctheory.cli import recommend as mod
    elif name == "train":
        from eoctheory.cli import train as mod
    elif name == "sweep":
        from eoctheory.cli import sweep as mod
    else:  # pragma: no cover - COMMANDS and this table are kept together
        raise KeyError(name)
    return mod


#: The commands, in the order ``--help`` lists them (each loaded only when it runs).
COMMANDS = ("check", "latex", "simulate", "recommend", "train", "sweep")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad options in one line on stderr and exits with 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def integer(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]``; ``1e3`` is read as 1000.

    A value out of range or with a fraction is refused by the parser in one line naming the
    option (``argument --width: must be an integer >= 2 (got '0')``).
    """
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f.is_integer()):
                raise argparse.ArgumentTypeError(
                    f"must be an integer {allowed} (got {text!r})") from None
            value = int(f)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed} (got {text!r})")
        return value

    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def report_user_error(prog: str, exc: BaseException) -> int:
    """One line on stderr for a user mistake; returns the exit code 2."""
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    sys.stderr.write(f"{prog}: error: {msg}\n")
    return EXIT_USAGE


def quiet_broken_pipe() -> int:
    """After a ``BrokenPipeError`` on stdout: send the rest to /dev/null; returns 141.

    The recipe of the Python documentation (``signal`` module, "Note on SIGPIPE"): Python
    flushes stdout again at exit, which would print a second error without this.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (embedded, captured)
        pass
    return BROKEN_PIPE_EXIT


def run_entry_point(prog: str | Callable[[], str], func: Callable[..., Any], *args: Any) -> int:
    """Run ``func(*args)`` as a command: map exceptions to one line and an exit code.

    ``prog`` (or ``prog()``, called when an error is reported) starts the error line.
    ``ValueError`` (a user mistake, from the library or the command) -> 2;
    ``MemoryError`` and other ``OSError`` (the environment) -> 1; ``BrokenPipeError`` -> 141,
    quietly; ``KeyboardInterrupt`` -> 130. ``SystemExit`` (``--help``, parser errors) passes
    through, after stdout is flushed.
    """
    def name() -> str:
        return prog if isinstance(prog, str) else prog()

    try:
        try:
            return int(func(*args) or 0)
        finally:
            sys.stdout.flush()  # a closed pipe shows up here, inside the handlers
    except BrokenPipeError:
        return quiet_broken_pipe()
    except ValueError as exc:
        return report_user_error(name(), exc)
    except MemoryError:
        sys.stderr.write(f"{name()}: error: out of memory (the estimate of eoctheory.limits "
                         "was too low: lower the sizes or set EOCTHEORY_MAX_MEMORY)\n")
        return EXIT_ENVIRONMENT
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"{name()}: error: {exc.strerror or exc}{where}\n")
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def keys_epilog(keys: Mapping[str, str], title: str = "JSON keys (--json)",
                width: int = 92) -> str:
    """A ``--help`` epilog section: one entry per key (``key  description``, wrapped)."""
    import textwrap

    w = max(map(len, keys), default=0)
    lines = [f"{title}:"]
    for k, v in keys.items():
        lines += textwrap.wrap(v, width, initial_indent=f"  {k:<{w}}  ",
                               subsequent_indent=" " * (w + 4)) or [f"  {k}"]
    return "\n".join(lines)


def exit_codes_epilog(codes: Mapping[int, str] | None = None) -> str:
    """The exit-code section of a command's ``--help`` (``codes``: the command's own meaning
    of some codes, over :data:`EXIT_CODES`; the ``check``/``recommend``-only lines are left
    out of other commands)."""
    table = {c: t for c, t in EXIT_CODES.items() if c not in (EXIT_MARGINAL, EXIT_UNSTABLE)}
    table.update(codes or {})
    return keys_epilog({str(c): t for c, t in sorted(table.items())}, "exit codes")


#: Commands whose work can be long: they show progress on stderr (a terminal only,
#: :mod:`eoctheory.cli.progress`) and take ``--quiet``, added here after their own options.
PROGRESS_COMMANDS = ("check", "simulate", "recommend", "train", "sweep")

#: Examples of the top-level ``--help`` (each command lists its own, ``EXAMPLES``).
EXAMPLES = (
    ("check crelu --sparsity 0.85 --target-slope 0.7",
     "initialise CReLU on the Edge of Chaos at 85% sparsity; is it stable?"),
    ("recommend crelu --sparsity 0.85 --width 300 --depth 100",
     "the largest safe clipping height m at that width and depth"),
    ("check --help", "the options, JSON keys and exit codes of one command"),
)


def prog_name(argv0: str | None = None) -> str:
    """The program's name for usage lines and examples: ``python -m eoctheory`` when run as a
    module (``sys.argv[0]`` is ``.../eoctheory/__main__.py``), else ``eoctheory`` (the
    console script, or a call of :func:`main` from Python)."""
    import os.path

    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    head, tail = os.path.split(os.path.normpath(argv0))
    module = tail == "__main__.py" and os.path.basename(head) == "eoctheory"
    return "python -m eoctheory" if module else "eoctheory"


def examples_epilog(prog: str, examples: Sequence[tuple[str, str]]) -> str:
    """The ``examples:`` section of a ``--help`` (``prog`` and each command line, then what
    it does on the next line; empty without examples)."""
    if not examples:
        return ""
    lines = ["examples:"]
    for argv, what in examples:
        lines += [f"  {prog} {argv}", f"      {what}"]
    return "\n".join(lines)


def build_parser(prog: str | None = None) -> OneLineParser:
    """The argument parser of every command (``prog``: the name in usage lines and examples,
    default :func:`prog_name`)."""
    from eoctheory import __version__

    prog = prog_name() if prog is None else prog
    parser = OneLineParser(prog=prog,
                           description="Edge-of-Chaos theory for sparsity-inducing activations.",
                           epilog="\n\n".join([exit_codes_epilog(EXIT_CODES),
                                               examples_epilog(prog, EXAMPLES)]),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser,
                                help=f"the command ('{prog} COMMAND --help': its options)")
    for name in COMMANDS:
        mod = _load(name)
        epilog = "\n\n".join(filter(None, [
            getattr(mod, "EPILOG", ""), exit_codes_epilog(getattr(mod, "EXIT_CODES", None)),
            examples_epilog(prog, getattr(mod, "EXAMPLES", ()))]))
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        if name in PROGRESS_COMMANDS:
            p.add_argument("--quiet", "-q", action="store_true",
                           help="no progress on stderr (bars and status lines appear "
                                "only when stderr is a terminal, never on stdout)")
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code (see the module notes)."""
    prog = {"name": "eoctheory"}

    def go() -> int:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv_text = list(sys.argv[2:] if argv is None else argv[1:])
        if getattr(args, "_run", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        prog["name"] = f"eoctheory {args.command}"
        return int(args._run(args) or 0)

    return run_entry_point(lambda: prog["name"], go)
