"""Options shared by the commands: which activation, and which setting of it.

Every command that takes an activation takes it the same way: a catalogue name, or
``custom`` with ``--expr`` (read by the safe expression reader; nothing typed is evaluated as
Python) and ``--param NAME=VALUE`` for parameters other than ``tau`` and ``m``. Every command
that needs a setting takes ``--sparsity | --tau``, ``--m | --target-slope`` and ``--q-star``
and hands them to :func:`eoctheory.theory.setting.resolve_setting` unchanged.

Names (every command, tested by ``tests/cli/test_conventions.py``): an option has the same
name and metavar wherever it appears. Metavars are upper case: the paper's symbol for a
quantity of the network or the activation (``N`` width, ``L`` depth, ``C`` channels, ``S``
sparsity, ``TAU``, ``M``, ``SLOPE`` for V'(q*), ``Q`` for q*), ``FILE``, ``DIR`` or ``ADDRESS``
for a place, ``EXPR`` and ``NAME=VALUE`` for text, else the option's name in capitals.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = [
    "activation_from_args",
    "param_values",
    "add_activation_arguments",
    "add_setting_arguments",
    "setting_from_args",
    "setting_kwargs",
]

_ACTIVATION_HELP = ("a built-in activation (relu, st, crelu, cst: the paper's ReLU_tau, "
                    "ST_tau, CReLU_{tau,m}, CST_{tau,m}; screlu, scst: smooth clipping with "
                    "--param beta=B; plain_relu, identity, hardtanh, tanh, erf, gelu, silu) or "
                    "'custom' with --expr")


def add_activation_arguments(p: argparse.ArgumentParser, positional: bool = True,
                             optional: bool = False) -> None:
    """ACTIVATION (or ``--activation``), ``--expr`` and ``--param``.

    ``optional`` makes the positional ACTIVATION optional (``latex --write-derivations``).
    """
    if positional:
        p.add_argument("activation", metavar="ACTIVATION", help=_ACTIVATION_HELP,
                       **({"nargs": "?"} if optional else {}))
    else:
        p.add_argument("--activation", required=True, metavar="ACTIVATION",
                       help=_ACTIVATION_HELP)
    p.add_argument("--expr", metavar="EXPR",
                   help="phi(x) for ACTIVATION 'custom', e.g. \"Piecewise((0, x < tau), "
                        "(x - tau, x < tau + m), (m, True))\"; tau and m are recognised "
                        "parameters, any other name needs --param")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a parameter other than tau and m: of a custom activation, "
                        "or beta of screlu/scst (repeatable)")


def param_values(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ValueError(f"--param must look like NAME=VALUE (got {item[:40]!r})")
        if name in ("x", "tau", "m"):
            raise ValueError(f"--param {name}: x is the argument; give tau and m with "
                             "--tau/--sparsity and --m/--target-slope")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"--param {name}: {value[:40]!r} is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"--param {name} must be finite (got {value[:40]!r})")
        out[name] = v
    return out


def activation_from_args(args: argparse.Namespace):
    """The :class:`~eoctheory.engine.activations.Activation` the options name."""
    from eoctheory.engine.activations import Activation, get_activation

    name = str(args.activation)
    extra = param_values(getattr(args, "param", []) or [])
    expr = getattr(args, "expr", None)
    if name.lower() == "custom":
        if not expr:
            raise ValueError("ACTIVATION 'custom' needs --expr, e.g. "
                             "--expr \"Piecewise((0, x < tau), (x - tau, True))\"")
        return Activation.from_string(expr, name="custom", params=extra or None)
    if expr:
        raise ValueError(f"--expr goes with ACTIVATION 'custom' (got {name[:40]!r})")
    from eoctheory.engine.activations import list_activations

    try:
        act = get_activation(name)
    except ValueError:
        raise ValueError(f"unknown activation {name[:40]!r}; known: "
                         f"{', '.join(list_activations())}, or 'custom' with --expr") from None
    if extra:  # another parameter of a catalogue activation (beta of screlu, scst)
        other = [p for p in act.param_names if p not in ("tau", "m")]
        for key in extra:
            if key not in other:
                raise ValueError(f"--param {key}: {act.name!r} has "
                                 + (f"no other parameter than tau and m" if not other else
                                    f"parameters {', '.join(other)} besides tau and m"))
        act = get_activation(act, **extra)
    return act


def add_setting_arguments(p: argparse.ArgumentParser, q_star: bool = True) -> None:
    """``--sparsity | --tau``, ``--m | --target-slope`` and ``--q-star``."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sparsity", type=float, metavar="S",
                   help="target sparsity s in (0, 1) at q*; sets tau")
    g.add_argument("--tau", type=float, metavar="TAU", help="threshold tau >= 0")
    h = p.add_mutually_exclusive_group()
    h.add_argument("--m", type=float, metavar="M", help="clipping height m > 0")
    h.add_argument("--target-slope", type=float, dest="target_slope", metavar="SLOPE",
                   help="choose m so that V'(q*) on the Edge of Chaos equals SLOPE (default "
                        "0.7 for activations with a clipping height when --m is not given)")
    if q_star:
        p.add_argument("--q-star", type=float, default=1.0, dest="q_star", metavar="Q",
                       help="fixed-point variance q* > 0 (default 1)")


def setting_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The setting options that were given, as keyword arguments of ``resolve_setting``."""
    keys = ("sparsity", "tau", "m", "target_slope", "q_star")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def setting_from_args(args: argparse.Namespace, activation=None):
    """The resolved :class:`~eoctheory.theory.setting.Setting` of the options."""
    from eoctheory.theory.setting import resolve_setting

    act = activation if activation is not None else activation_from_args(args)
    return resolve_setting(act, default_slope=True, **setting_kwargs(args))
