r"""``python -m eoctheory latex``: derived closed forms as LaTeX, in the paper's notation.

Examples
--------
``python -m eoctheory latex relu --quantity dvariance`` prints
``V'(q) = \sigma_w^{2} \Phi\left(- \tau/\sqrt{q}\right)``;
``python -m eoctheory latex custom --expr "Piecewise((0, x < tau), (x - tau, True))"``
prints every quantity of a user's activation; ``python -m eoctheory latex
--write-derivations`` regenerates ``derivations/`` of the eoctheory checkout the command runs
in (from its root or any folder below it) and refuses elsewhere; ``--write-derivations DIR``
writes to ``DIR``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from eoctheory.cli.options import activation_from_args, add_activation_arguments
from eoctheory.latex.printer import CDF_MODES
from eoctheory.latex.quantities import QUANTITIES

HELP = "print an activation's derived closed forms (V, V', V'', chi_1, EoC, ...) as LaTeX"
#: ``--help`` examples (after the program's name).
EXAMPLES = (
    ("latex relu --quantity dvariance", "V'(q) of ReLU_tau in the paper's notation"),
    ("latex custom --expr \"Piecewise((0, x < tau), (x - tau, x < tau + m), (m, True))\"",
     "every derived quantity of your own activation"),
    ("latex crelu --quantity eoc --cdf erf", "the Edge-of-Chaos conditions, written with erf"),
    ("latex --write-derivations DIR", "regenerate the derivations document in DIR"),
)
#: ``--write-derivations`` given without DIR: the checkout's derivations/ (found at run time)
_REPOSITORY = object()

#: --quantity values: every quantity, "eoc" (both Edge-of-Chaos conditions) and "all".
CHOICES = (*QUANTITIES, "eoc", "all")
_MAY_NOT_EXIST = ("chi1", "eoc_sigma_w2", "eoc_sigma_b2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_activation_arguments(parser, optional=True)
    parser.add_argument("--quantity", default="all", choices=CHOICES, metavar="QUANTITY",
                        help=f"one of {', '.join(CHOICES)} (default: all)")
    parser.add_argument("--cdf", default="phi", choices=CDF_MODES,
                        help="write the Gaussian CDF and density as Phi, varphi (default) "
                             "or with erf, erfc, exp")
    parser.add_argument("--write-derivations", nargs="?", const=_REPOSITORY, default=None,
                        metavar="DIR",
                        help="regenerate the LaTeX derivations document in DIR (created if "
                             "missing; '.' for the current directory) instead of printing; "
                             "without DIR, the derivations/ folder of the eoctheory checkout "
                             "around the current directory (refused outside one)")


def repository_derivations(start: str | Path | None = None) -> Path | None:
    """The ``derivations/`` folder of the eoctheory checkout at or above ``start``, or None.

    A checkout is a folder holding ``derivations/``, ``pyproject.toml`` and
    ``eoctheory/__init__.py``; ``start`` defaults to the current directory.
    """
    here = Path.cwd() if start is None else Path(start)
    for folder in (here, *here.parents):
        if ((folder / "derivations").is_dir() and (folder / "pyproject.toml").is_file()
                and (folder / "eoctheory" / "__init__.py").is_file()):
            return folder / "derivations"
    return None


def run(args: argparse.Namespace) -> int:
    from eoctheory.latex.document import write_derivations
    from eoctheory.latex.quantities import latex_equation

    if args.write_derivations is not None:
        from eoctheory.files import check_writable_dir

        if args.activation or args.expr:
            raise ValueError("--write-derivations writes every family; give no ACTIVATION "
                             "or --expr with it")
        if args.quantity != "all":
            raise ValueError("--quantity does not go with --write-derivations (it writes "
                             "every quantity)")
        target = args.write_derivations
        if target is _REPOSITORY:
            target = repository_derivations()
            if target is None:
                raise ValueError("--write-derivations without DIR writes the derivations/ "
                                 "folder of an eoctheory checkout, and the current directory "
                                 "is not in one; give the folder: --write-derivations DIR")
            target = os.path.relpath(target)  # printed as derivations/..., ../derivations/...
        check_writable_dir(target, "--write-derivations", create=True)
        for path in write_derivations(target, cdf=args.cdf):
            print(path.as_posix())
        return 0
    if not args.activation:
        raise ValueError("give an ACTIVATION (e.g. crelu) or --write-derivations")
    act = activation_from_args(args)
    if args.quantity == "all":
        wanted = QUANTITIES
    elif args.quantity == "eoc":
        wanted = ("eoc_sigma_w2", "eoc_sigma_b2")
    else:
        wanted = (args.quantity,)
    lines = []
    for quantity in wanted:
        try:
            lines.append(latex_equation(act, quantity, cdf=args.cdf))
        except ValueError as exc:  # chi_1 of a jump does not exist: say so, keep going
            if len(wanted) == 1 or quantity not in _MAY_NOT_EXIST:
                raise
            lines.append(f"% {str(exc).splitlines()[0]}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
