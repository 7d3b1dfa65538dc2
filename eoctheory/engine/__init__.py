"""The symbolic engine: activations as data, Gaussian expectations in closed form, compiled
maps and the mpmath oracle.

Modules, in import order: :mod:`~eoctheory.engine.checks` (argument checks),
:mod:`~eoctheory.engine.roots` (bracketed root finding),
:mod:`~eoctheory.engine.expr` (the safe expression reader: user text to SymPy through a
whitelisted syntax tree, never evaluated as Python),
:mod:`~eoctheory.engine.gaussian` (the truncated-Gaussian engine),
:mod:`~eoctheory.engine.admissible` (what the engine can do right: refusals of jumps off the
exact route, singular or undefined regions, overflow),
:mod:`~eoctheory.engine.activations` (Activation and the catalogue),
:mod:`~eoctheory.engine.maps` (derivation and compiled maps) and
:mod:`~eoctheory.engine.precise` (the mpmath oracle). Nothing here imports from
:mod:`eoctheory.theory` or above.
"""
