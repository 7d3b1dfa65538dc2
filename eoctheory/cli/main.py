"""``python -m eoctheory COMMAND``: the command-line front end.

Each command lives in its own module ``eoctheory/cli/<name>.py`` exposing

* ``HELP``: one line for the command list,
* ``add_arguments(parser)``: its options,
* ``run(args) -> int``: does the work, returns the exit code.

Modules are imported only for the command that runs, so ``--help`` and errors stay fast.
A user mistake (a ``ValueError`` from the library, or bad options) prints one line on
stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType


def _load(name: str) -> ModuleType:
    if name == "check":
        from eoctheory.cli import check as mod
    elif name == "latex":
        from eoctheory.cli import latex as mod
    elif name == "simulate":
        from eoctheory.cli import simulate as mod
    elif name == "recommend":
        from eoctheory.cli import recommend as mod
    else:  # pragma: no cover - COMMANDS and this table are kept together
        raise KeyError(name)
    return mod


#: The commands, in the order ``--help`` lists them (each loaded only when it runs).
COMMANDS = ("check", "latex", "simulate", "recommend")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad options in one line on stderr and exits with 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def report_user_error(prog: str, exc: BaseException) -> int:
    """One line on stderr for a user mistake; returns the exit code 2."""
    text = str(exc).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    sys.stderr.write(f"{prog}: error: {msg}\n")
    return 2


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m eoctheory",
                           description="Edge-of-Chaos theory for sparsity-inducing activations.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in COMMANDS:
        mod = _load(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except ValueError as exc:  # user mistakes: one line, exit 2
        return report_user_error(f"eoctheory {args.command}", exc)
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        return 130
