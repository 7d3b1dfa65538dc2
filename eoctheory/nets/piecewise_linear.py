r"""Piecewise-linear activations as runs of one branch between breakpoints.

An activation is piecewise linear here when ``Piecewise[phi]``
(:func:`~eoctheory.nets.codegen.to_piecewise`) has branches :math:`a_i x + c_i` and
conditions built from comparisons of :math:`x` with expressions in the parameters: the
paper's four, hard-tanh, a user's ramp (:func:`linear_form`). At given parameter values and
dtype it is a sequence of :class:`Run` s, the maximal intervals on which one branch holds,
with breakpoints rounded to the dtype (:func:`piecewise_linear_runs`); a :class:`Plan` says
how to evaluate it in a few passes instead of two per branch: the input clamped where the
end runs are constant, each remaining run's own formula selected on its interval, the
derivative as the slope on each run's interval with its own end points -- the same values
as the generated ``where`` chain. The NumPy kernels (:mod:`eoctheory.nets.kernels`) and the
torch functions (:mod:`eoctheory.nets.torch_kernels`) both follow the plan.

Examples
--------
>>> [(r.lo, r.hi, r.slope) for r in piecewise_linear_runs("crelu", tau=0.5, m=1.0)]
[(-inf, 0.5, 0.0), (0.5, 1.5, 1.0), (1.5, inf, 0.0)]
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import sympy as sp

from eoctheory.engine.activations import X, Activation, get_activation
from eoctheory.nets.codegen import (
    NUMPY_NAMESPACE,
    RELATIONS,
    CodeBuilder,
    KernelError,
    compile_source,
    scalar_values,
    to_piecewise,
)

__all__ = [
    "LinearForm",
    "Plan",
    "PlanCache",
    "Run",
    "linear_form",
    "numpy_rounding",
    "piecewise_linear_runs",
    "plan_runs",
    "runs_at",
]

_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True)
class Run:
    r"""A maximal interval on which one branch of a piecewise-linear :math:`\phi` holds.

    ``lo``/``hi`` are breakpoints rounded to the kernel's dtype (``-inf``/``inf`` when
    unbounded, infinities included); ``lo_closed``/``hi_closed`` say whether the end point
    belongs to the run (the branch's condition holds there). On the run
    :math:`\phi(x) = a x + c` with ``slope`` :math:`a` and ``intercept`` :math:`c`.
    """

    lo: float
    lo_closed: bool
    hi: float
    hi_closed: bool
    branch: int
    slope: float
    intercept: float


@dataclass(frozen=True)
class LinearForm:
    """Symbolic side: branches ``a_i x + c_i``, conditions built from atoms ``x OP t_j``."""

    conds: tuple[sp.Basic, ...]
    atoms: dict[sp.Basic, tuple[str, int]]
    scalars: Callable[..., tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]
    branches: tuple[sp.Expr, ...]


def _plain_boolean(c: sp.Basic) -> bool:
    if c is sp.true or c is sp.false or type(c) in RELATIONS:
        return True
    return isinstance(c, (sp.And, sp.Or, sp.Not)) and all(_plain_boolean(a) for a in c.args)


@functools.lru_cache(maxsize=256)
def linear_form(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> LinearForm | None:
    """The piecewise-linear structure of ``expr``, or None if it is not of that kind."""
    pw = to_piecewise(expr)
    pairs = [(p.expr, p.cond) for p in pw.args] if isinstance(pw, sp.Piecewise) else \
        [(pw, sp.true)]
    code = CodeBuilder({X: "x", **{s: f"p{i}" for i, s in enumerate(symbols)}}, {X})
    slopes, icpts = [], []
    for v, _ in pairs:
        if not (isinstance(v, sp.Expr) and v.is_polynomial(X)) or sp.degree(v, X) > 1:
            return None
        slopes.append(sp.diff(v, X))
        icpts.append(v.subs(X, 0))
    atoms: dict[sp.Basic, tuple[str, int]] = {}
    thresholds: list[sp.Expr] = []
    for _, cond in pairs:
        if not _plain_boolean(cond):
            return None
        for rel in cond.atoms(sp.core.relational.Relational):
            if rel in atoms:
                continue
            if not code.is_array(rel):
                return None  # a condition on the parameters only
            r, lhs, rhs = code.relation(rel)
            if lhs != X or code.is_array(rhs):
                return None  # e.g. 2 x < 1: its breakpoint would need a rounded division
            if rhs not in thresholds:
                thresholds.append(rhs)
            atoms[rel] = (RELATIONS[r][0], thresholds.index(rhs))
    try:
        outs = [[code.scalar(e) for e in group] for group in (thresholds, slopes, icpts)]
    except KernelError:
        return None
    ret = ", ".join(f"({', '.join(g)}{',' if len(g) == 1 else ''})" for g in outs)
    params = ", ".join(f"p{i}" for i in range(len(symbols)))
    body = "".join(f"    {ln}\n" for ln in code.lines)
    src = f"def scalars({params}):\n{body}    return ({ret})\n"
    return LinearForm(tuple(c for _, c in pairs), atoms,
                      compile_source(src, "scalars", NUMPY_NAMESPACE), tuple(v for v, _ in pairs))


def _truth(c: sp.Basic, r: float, lin: LinearForm, thr: list[float]) -> bool:
    if c is sp.true or c is sp.false:
        return bool(c)
    if isinstance(c, sp.And):
        return all(_truth(a, r, lin, thr) for a in c.args)
    if isinstance(c, sp.Or):
        return any(_truth(a, r, lin, thr) for a in c.args)
    if isinstance(c, sp.Not):
        return not _truth(c.args[0], r, lin, thr)
    op, j = lin.atoms[c]
    return _CMP[op](r, thr[j])


def runs_at(lin: LinearForm, vals: tuple[float, ...], rnd: Callable[[float], float]
            ) -> list[Run] | None:
    """Runs at these parameter values, breakpoints rounded by ``rnd`` (the dtype's rounding).

    The kernels compare ``x`` (of the dtype) with a Python-float breakpoint in the dtype, i.e.
    with the rounded breakpoint, so truth values between consecutive rounded breakpoints are
    constant: one representative per open interval and each breakpoint itself decide the
    branch everywhere.
    """
    thr, slopes, icpts = lin.scalars(*vals)
    if not all(math.isfinite(t) for t in thr):
        return None
    t = [rnd(v) for v in thr]
    u = sorted(set(t))
    sets: list[tuple[float, bool, float, bool, float]] = []
    prev = -math.inf
    for b in u:
        rep = -math.inf if prev == -math.inf else prev / 2 + b / 2
        sets.append((prev, prev == -math.inf, b, False, rep))
        sets.append((b, True, b, True, b))
        prev = b
    sets.append((prev, prev == -math.inf, math.inf, True, math.inf if u else 0.0))
    runs: list[Run] = []
    for lo, lc, hi, hc, rep in sets:
        k = next((i for i, c in enumerate(lin.conds) if _truth(c, rep, lin, t)), -1)
        if k < 0:
            return None  # phi is NaN there: left to the generic kernels
        if runs and runs[-1].branch == k:
            runs[-1] = replace(runs[-1], hi=hi, hi_closed=hc)
        else:
            runs.append(Run(lo, lc, hi, hc, k, float(slopes[k]), float(icpts[k])))
    return runs


@dataclass(frozen=True)
class Plan:
    r"""How to evaluate a piecewise-linear :math:`\phi` with few passes.

    If the first run is constant (:math:`c`) up to ``b``, then
    :math:`\phi(x) = \phi(\max(x, b))` up to the value at ``b`` itself: the input is clamped
    to ``[clamp_lo, clamp_hi]`` and the next run's formula :math:`e` takes over ``b``
    (likewise at the top). Where :math:`e(b)` differs from :math:`c` by rounding (``b`` is a
    rounded sum such as :math:`\tau + m`), ``fixes`` add :math:`d = c - e(b)` on the
    constant run -- exact, :math:`e(b) + d = c` is checked in the dtype -- so the values
    stay those of the ``where`` chain. ``terms`` are the remaining runs with a nonzero value
    (an exact zero run adds nothing); ``dterms`` the runs with a nonzero slope, with their
    own end points (the derivative's convention).
    """

    clamp_lo: float
    clamp_hi: float
    terms: tuple[Run, ...]
    single: bool
    dterms: tuple[Run, ...]
    fixes: tuple[tuple[Run, float], ...]


def plan_runs(runs: list[Run], rnd: Callable[[float], float],
              value_at: Callable[[int, float], float], for_gradient: bool) -> Plan:
    """The :class:`Plan` of ``runs``; ``value_at(k, b)`` is branch ``k`` at ``b`` in the dtype.

    ``for_gradient``: the clamp's derivative must vanish at ``b``, so the constant run
    must hold there; and no clamp from above alone (see the torch route in
    :mod:`eoctheory.nets.torch_kernels`)."""

    def join(const: Run, branch: int, b: float) -> float | None:
        """``d`` with ``e(b) + d == c`` exactly in the dtype (0 if equal), else None."""
        c, v = rnd(const.intercept), value_at(branch, b)
        if v == c:
            return 0.0
        if not math.isfinite(v):
            return None
        d = rnd(c - v)
        return d if rnd(v + d) == c else None

    inner = list(runs)
    lo_c, hi_c = -math.inf, math.inf
    fixes: list[tuple[Run, float]] = []
    first = inner[0]
    if len(inner) >= 2 and first.slope == 0 and (first.hi_closed or not for_gradient):
        d = join(first, inner[1].branch, first.hi)
        if d is not None:
            lo_c = first.hi
            inner = [replace(inner[1], lo=lo_c, lo_closed=True)] + inner[2:]
            fixes += [(first, d)] if d else []
    last = inner[-1]
    if len(inner) >= 2 and last.slope == 0 and (last.lo_closed or not for_gradient) and \
            (lo_c > -math.inf or not for_gradient):
        d = join(last, inner[-2].branch, last.lo)
        if d is not None:
            hi_c = last.lo
            inner = inner[:-2] + [replace(inner[-2], hi=hi_c, hi_closed=True)]
            fixes += [(last, d)] if d else []
    terms = tuple(r for r in inner if not (r.slope == 0 and rnd(r.intercept) == 0))
    return Plan(lo_c, hi_c, terms, len(inner) == 1, tuple(r for r in runs if r.slope != 0),
                 tuple(fixes))


class PlanCache:
    """Plans per (parameter values, dtype); bounded so a sweep over values cannot grow it."""

    def __init__(self, build: Callable[[tuple[float, ...], Any], Any]) -> None:
        self.build = build
        self.plans: dict[tuple[tuple[float, ...], Any], Any] = {}

    def get(self, vals: tuple[float, ...], dtype: Any) -> Any:
        key = (vals, dtype)
        try:
            return self.plans[key]
        except KeyError:
            pass
        if len(self.plans) > 64:
            self.plans.clear()
        plan = self.plans[key] = self.build(vals, dtype)
        return plan


def numpy_rounding(dtype: np.dtype) -> tuple[Callable, Callable, Callable]:
    """Rounding to ``dtype``, and the next float of ``dtype`` up and down."""
    t = dtype.type
    return (lambda v: float(t(v)), lambda v: float(np.nextafter(t(v), t(math.inf))),
            lambda v: float(np.nextafter(t(v), t(-math.inf))))


def piecewise_linear_runs(activation: Activation | str, dtype: Any = np.float64,
                          **params: float) -> list[Run] | None:
    r"""The runs of a piecewise-linear activation in ``dtype``, or None if not of that kind.

    An activation is piecewise linear here when ``Piecewise[phi]`` has branches
    :math:`a_i x + c_i` and conditions built from comparisons of :math:`x` with expressions
    in the parameters. The fast kernels (both backends) evaluate such an activation run by
    run; everything else takes the generic ``where`` chain.

    Examples
    --------
    >>> [(r.lo, r.hi, r.slope) for r in piecewise_linear_runs("crelu", tau=0.5, m=1.0)]
    [(-inf, 0.5, 0.0), (0.5, 1.5, 1.0), (1.5, inf, 0.0)]
    """
    act = get_activation(activation, **params)
    if act.expr is None:
        return None
    lin = linear_form(act.expr, act.symbols)
    if lin is None:
        return None
    return runs_at(lin, tuple(scalar_values(act, {})), numpy_rounding(np.dtype(dtype))[0])
