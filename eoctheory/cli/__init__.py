"""The command line, ``python -m eoctheory COMMAND`` (or the ``eoctheory`` console script):
one module per command and an explicit command table in :mod:`~eoctheory.cli.main`.
Parsing and printing only; the mathematics lives in :mod:`eoctheory.theory`.
"""

from eoctheory.cli.main import main

__all__ = ["main"]
