r"""Kernels generated from an activation's definition: NumPy and torch.

An :class:`~eoctheory.engine.activations.Activation` is a SymPy expression :math:`\phi(x)`
with symbolic parameters. This module translates :math:`\phi` and its derivative

.. math::

    \phi'(x) = \frac{d}{dx}\,\operatorname{Piecewise}[\phi](x)

(``Max``/``Min``/``Abs``/``sign``/``Heaviside`` rewritten as ``Piecewise`` first; at a kink
:math:`\phi'` is the derivative of the branch whose condition holds there, so a flat part
keeps derivative exactly 0 up to and including its end points -- the convention of
:meth:`Activation.derivative <eoctheory.engine.activations.Activation.derivative>`) into
kernels, in the dtype of the input (float32 stays float32: parameters and constants enter
as Python floats):

* straight-line code, one line per node of the expression tree (shared subexpressions
  once; :func:`generated_source` shows it). A ``Piecewise`` is a ``where`` chain: in NumPy
  evaluated from the last branch to the first, each branch's top operation a ufunc call
  with ``out=out, where=c_i``; in torch nested ``torch.where`` inside a
  :class:`torch.autograd.Function` whose backward is the generated vector-Jacobian product
  ``Piecewise((g * e_i', c_i), ...)`` (:func:`vjp_expr`), so an unselected branch
  (``exp`` overflowing, ``sqrt`` of a negative number) cannot leak ``NaN`` into the
  gradient as it does through autograd of ``torch.where``;
* piecewise-linear activations (branches :math:`a_i x + c_i`, conditions comparing
  :math:`x` with expressions in the parameters: the paper's four, hard-tanh, a user's ramp)
  are evaluated run by run (:func:`piecewise_linear_runs`): the input clamped where the end
  runs are constant, each remaining run's own formula selected on its interval (NumPy: a
  mask product; torch: the fused selections ``hardtanh_backward``/``threshold_backward``,
  differentiated by autograd), the derivative as the slope on each run's interval with its
  own end points. Same values as the ``where`` chain, a few passes instead of two per
  branch;
* smooth expressions in torch: the generated ops, differentiated by autograd.

Only expressions the package built are translated (the code is generated from the SymPy
tree, node type by node type, from a whitelist: arithmetic, integer and rational powers,
``exp``, ``log``, the trigonometric and hyperbolic functions, ``erf``, ``erfc``, ``Abs``,
``sign``, ``Max``, ``Min``, ``Heaviside``, ``Piecewise`` with relational conditions;
variables get generated names ``x``, ``g``, ``p0``, ``p1``, ...), as :func:`sympy.lambdify`
does; anything else raises :class:`KernelError`. Numeric-only activations (``expr=None``) use their NumPy
``func``/``dfunc``; in torch they go through NumPy on the host (correct, not fast).

Importing this module does not import torch.

Examples
--------
>>> import numpy as np
>>> from eoctheory import get_activation
>>> k = NumpyKernels(get_activation("crelu", tau=0.5, m=1.0))
>>> x = np.array([0.0, 0.5, 1.0, 1.5, 3.0], dtype=np.float32)
>>> k.forward(x)
array([0. , 0. , 0.5, 1. , 1. ], dtype=float32)
>>> k.derivative(x)
array([0., 0., 1., 0., 0.], dtype=float32)
>>> print(generated_source("crelu", "numpy"))  # doctest: +NORMALIZE_WHITESPACE
def phi(x, out, mask, p0, p1):
    np.copyto(out, p1)
    s0 = p0 + p1
    np.less(x, s0, out=mask)
    np.subtract(x, p0, out=out, where=mask)
    np.less_equal(x, p0, out=mask)
    np.copyto(out, 0.0, where=mask)
    return out
"""

from __future__ import annotations

import functools
import linecache
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.special as sc
import sympy as sp

from eoctheory.engine.activations import X, Activation, get_activation

__all__ = [
    "G",
    "KernelError",
    "NumpyKernels",
    "Run",
    "derivative_expr",
    "generated_source",
    "numpy_kernels",
    "piecewise_linear_runs",
    "to_piecewise",
    "torch_function",
    "torch_route",
    "vjp_expr",
]


class KernelError(ValueError):
    """The activation's expression uses something the code generator does not translate."""


#: The incoming gradient :math:`g` of the vector-Jacobian product (never a user symbol).
G = sp.Dummy("g", real=True)


# ------------------------------------------------------------------------------------------
# Expressions: phi' and g phi' from the definition
# ------------------------------------------------------------------------------------------
def to_piecewise(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with ``Max``, ``Min``, ``Abs``, ``sign`` and ``Heaviside`` as ``Piecewise``.

    The same rewriting the Gaussian engine and :meth:`Activation.derivative` use, so the
    conditions (and with them the value of :math:`\phi'` at kinks) are the same.
    """
    expr = expr.rewrite(sp.Piecewise)
    for f in (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside):
        expr = expr.replace(lambda e, f=f: isinstance(e, f), lambda e: e.rewrite(sp.Piecewise))
    return sp.piecewise_fold(expr)


@functools.lru_cache(maxsize=512)
def derivative_expr(expr: sp.Expr) -> sp.Expr:
    r""":math:`\phi'(x) = \frac{d}{dx}\operatorname{Piecewise}[\phi](x)`, branch by branch.

    At a kink the branch whose condition holds gives the value: for
    :math:`\mathrm{CReLU}_{\tau,m}` = ``Piecewise((0, x <= tau), (x - tau, x < tau + m),
    (m, True))`` this is ``Piecewise((0, x <= tau), (1, x < tau + m), (0, True))``, i.e.
    :math:`\phi'(\tau) = \phi'(\tau+m) = 0`.
    """
    return sp.piecewise_fold(sp.diff(to_piecewise(expr), X))


@functools.lru_cache(maxsize=512)
def vjp_expr(expr: sp.Expr) -> sp.Expr:
    r"""The vector-Jacobian product :math:`g\,\phi'(x)` with :math:`g` folded into each branch.

    ``Piecewise((g * e_i', c_i), ...)``: a branch with :math:`e_i' = 0` is the constant 0,
    not :math:`g \cdot 0` (which is ``NaN`` for :math:`g = \infty`).
    """
    return sp.piecewise_fold(G * derivative_expr(expr))


def _prepare(expr: sp.Expr) -> sp.Expr:
    """Forward form: keep Max/Min/Abs/sign (fast ufuncs), rewrite Heaviside (no native op)."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside),
                        lambda e: e.rewrite(sp.Piecewise))


# ------------------------------------------------------------------------------------------
# Code generation
# ------------------------------------------------------------------------------------------
_MATH = {sp.exp: "math.exp", sp.log: "math.log", sp.sin: "math.sin", sp.cos: "math.cos",
         sp.tan: "math.tan", sp.sinh: "math.sinh", sp.cosh: "math.cosh",
         sp.tanh: "math.tanh", sp.asinh: "math.asinh", sp.atan: "math.atan",
         sp.erf: "math.erf", sp.erfc: "math.erfc", sp.Abs: "abs", sp.sign: "_sign"}
_NUMPY = {sp.exp: "np.exp", sp.log: "np.log", sp.sin: "np.sin", sp.cos: "np.cos",
          sp.tan: "np.tan", sp.sinh: "np.sinh", sp.cosh: "np.cosh", sp.tanh: "np.tanh",
          sp.asinh: "np.arcsinh", sp.atan: "np.arctan", sp.erf: "sc.erf",
          sp.erfc: "sc.erfc", sp.Abs: "np.abs", sp.sign: "np.sign"}
_TORCH = {sp.exp: "torch.exp", sp.log: "torch.log", sp.sin: "torch.sin",
          sp.cos: "torch.cos", sp.tan: "torch.tan", sp.sinh: "torch.sinh",
          sp.cosh: "torch.cosh", sp.tanh: "torch.tanh", sp.asinh: "torch.asinh",
          sp.atan: "torch.atan", sp.erf: "torch.erf", sp.erfc: "torch.erfc",
          sp.Abs: "torch.abs", sp.sign: "torch.sign"}
# relational -> (Python operator, NumPy ufunc, the relation with its sides swapped)
_REL = {sp.StrictLessThan: ("<", "np.less", sp.StrictGreaterThan),
        sp.LessThan: ("<=", "np.less_equal", sp.GreaterThan),
        sp.StrictGreaterThan: (">", "np.greater", sp.StrictLessThan),
        sp.GreaterThan: (">=", "np.greater_equal", sp.LessThan),
        sp.Equality: ("==", "np.equal", sp.Equality),
        sp.Unequality: ("!=", "np.not_equal", sp.Unequality)}


def _sign(v: float) -> float:
    return math.copysign(1.0, v) if v else 0.0


def _literal(e: sp.Expr) -> str:
    try:
        v = complex(e)
    except (TypeError, ValueError):
        raise KernelError(f"cannot evaluate the constant {e} to a number") from None
    if v.imag:
        raise KernelError(f"the constant {e} is not real")
    r = v.real
    if math.isnan(r):
        return "NAN"
    if math.isinf(r):
        return "INF" if r > 0 else "(-INF)"
    return f"({r!r})" if r < 0 else repr(r)


def _negated(t: sp.Expr) -> sp.Expr | None:
    """``u`` if ``t = c u`` with a negative number ``c`` (so ``a + t`` is ``a - u``)."""
    if isinstance(t, sp.Mul) and t.args[0].is_number and t.args[0].is_negative:
        return -t
    return None


class _Code:
    """Straight-line source of one function, built node by node (shared nodes once)."""

    def __init__(self, names: dict[sp.Symbol, str], arrays: set[sp.Symbol]):
        self.names = names
        self.arrays = arrays
        self.lines: list[str] = []
        self.memo: dict[sp.Basic, str] = {}
        self.n_t = 0
        self.n_s = 0

    def line(self, code: str) -> None:
        self.lines.append(code)

    def tmp(self, code: str, scalar: bool = False) -> str:
        if scalar:
            name, self.n_s = f"s{self.n_s}", self.n_s + 1
        else:
            name, self.n_t = f"t{self.n_t}", self.n_t + 1
        self.lines.append(f"{name} = {code}")
        return name

    def is_array(self, e: sp.Basic) -> bool:
        return not self.arrays.isdisjoint(e.free_symbols)

    def name_of(self, s: sp.Symbol) -> str:
        try:
            return self.names[s]
        except KeyError:
            raise KernelError(f"symbol {s} is neither x nor a declared parameter") from None

    # --- scalars: Python floats (parameters and constants) --------------------------------
    def scalar(self, e: sp.Basic) -> str:
        if e in self.memo:
            return self.memo[e]
        if e.is_Symbol:
            return self.name_of(e)
        if e is sp.true or e is sp.false:
            return str(bool(e))
        if isinstance(e, sp.Expr) and e.is_number:
            return _literal(e)
        s = self.scalar
        if isinstance(e, sp.Add):
            code = " + ".join(s(a) for a in e.args)
        elif isinstance(e, sp.Mul) and e.args[0] == -1:
            code = f"-{s(sp.Mul(*e.args[1:]))}"
        elif isinstance(e, sp.Mul):
            code = " * ".join(s(a) for a in e.args)
        elif isinstance(e, sp.Pow):
            b, k = e.args
            if k.is_Integer:
                code = f"{s(b)} ** {int(k)}"
            elif k == sp.S.Half:
                code = f"math.sqrt({s(b)})"
            else:
                code = f"math.pow({s(b)}, {s(k)})"
        elif isinstance(e, (sp.Max, sp.Min)):
            code = f"{'max' if isinstance(e, sp.Max) else 'min'}({', '.join(map(s, e.args))})"
        elif type(e) in _MATH:
            code = f"{_MATH[type(e)]}({s(e.args[0])})"
        elif isinstance(e, sp.Piecewise):
            code = "NAN"
            for val, cond in reversed(e.args):
                code = f"({s(val)} if {s(cond)} else {code})"
        elif type(e) in _REL:
            code = f"{s(e.lhs)} {_REL[type(e)][0]} {s(e.rhs)}"
        elif isinstance(e, (sp.And, sp.Or)):
            code = f" {'and' if isinstance(e, sp.And) else 'or'} ".join(map(s, e.args))
        elif isinstance(e, sp.Not):
            code = f"not {s(e.args[0])}"
        else:
            raise KernelError(f"cannot generate code for {type(e).__name__} ({e})")
        name = self.tmp(code, scalar=True)
        self.memo[e] = name
        return name

    def operand(self, e: sp.Basic) -> str:
        return self.array(e) if self.is_array(e) else self.scalar(e)

    def relation(self, e: sp.Relational) -> tuple[type, sp.Expr, sp.Expr]:
        """Array on the left; ``-u < s`` becomes ``u > -s`` (exact: negation rounds nothing)."""
        rel, lhs, rhs = type(e), e.lhs, e.rhs
        if not self.is_array(lhs):
            rel, lhs, rhs = _REL[rel][2], rhs, lhs
        u = _negated(lhs)
        if u is not None and lhs.args[0] == -1 and not self.is_array(rhs):
            rel, lhs, rhs = _REL[rel][2], u, -rhs
        return rel, lhs, rhs

    def array(self, e: sp.Basic) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class _NumpyCode(_Code):
    """NumPy: every array node is one ufunc call; the top node of a result writes ``out``."""

    def array(self, e: sp.Basic) -> str:
        if e in self.memo:
            return self.memo[e]
        if e.is_Symbol:
            return self.name_of(e)
        if isinstance(e, sp.Piecewise):
            name = self.tmp("np.empty_like(x)")
            self.piecewise_into(e, name, None)
        else:
            f, args = self.op(e)
            name = self.tmp(f"{f}({', '.join(args)})")
        self.memo[e] = name
        return name

    def chain(self, first: str, steps: list[tuple[str, str]]) -> tuple[str, list[str]]:
        """Left to right ``((first f1 a1) f2 a2) ...``; the last call is left pending."""
        acc = first
        for f, a in steps[:-1]:
            acc = self.tmp(f"{f}({acc}, {a})")
        f, a = steps[-1]
        return f, [acc, a]

    def op(self, e: sp.Basic) -> tuple[str, list[str]]:
        """The ufunc and argument codes of array node ``e`` (children materialised)."""
        if isinstance(e, sp.Add):
            terms = [t for t in e.as_ordered_terms() if self.is_array(t)]
            consts = [t for t in e.args if not self.is_array(t)]
            steps: list[tuple[str, str]] = []
            u = _negated(terms[0])
            if u is not None and len(terms) == 1 and consts:  # c - u: one pass, same rounding
                return "np.subtract", [self.scalar(sp.Add(*consts)), self.array(u)]
            first = self.array(terms[0]) if u is None else None
            if first is None:
                first = self.tmp(f"np.negative({self.array(u)})")
            for t in terms[1:]:
                u = _negated(t)
                steps.append(("np.add", self.array(t)) if u is None else
                             ("np.subtract", self.array(u)))
            if consts:
                c = sp.Add(*consts)
                u = -c if (c.is_number and c.is_negative) else _negated(c)
                steps.append(("np.add", self.scalar(c)) if u is None else
                             ("np.subtract", self.scalar(u)))
            if not steps:
                return "np.positive", [first]
            return self.chain(first, steps)
        if isinstance(e, sp.Mul):
            coeff = sp.Mul(*[f for f in e.args if not self.is_array(f)])
            num, den = [], []
            for f in e.args:
                if not self.is_array(f):
                    continue
                if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                    den.append(sp.Pow(f.base, -f.exp))
                else:
                    num.append(f)
            ops = [("np.multiply", self.array(f)) for f in num]
            ops += [("np.divide", self.array(f)) for f in den]
            if coeff != 1:
                return self.chain(self.scalar(coeff), ops)
            if not num:
                return self.chain("1.0", ops)
            if len(ops) == 1:
                return "np.positive", [ops[0][1]]
            return self.chain(ops[0][1], ops[1:])
        if isinstance(e, sp.Pow):
            b, k = e.args
            if self.is_array(k):
                return "np.power", [self.operand(b), self.array(k)]
            if k == 2:
                return "np.square", [self.array(b)]
            if k == sp.S.Half:
                return "np.sqrt", [self.array(b)]
            if k == -1:
                return "np.divide", ["1.0", self.array(b)]
            if k == -sp.S.Half:
                return "np.divide", ["1.0", self.tmp(f"np.sqrt({self.array(b)})")]
            return "np.power", [self.array(b), str(int(k)) if k.is_Integer else self.scalar(k)]
        if isinstance(e, (sp.Max, sp.Min)):
            f = "np.maximum" if isinstance(e, sp.Max) else "np.minimum"
            arrs = [self.array(a) for a in e.args if self.is_array(a)]
            consts = [a for a in e.args if not self.is_array(a)]
            steps = [(f, a) for a in arrs[1:]]
            if consts:
                steps.append((f, self.scalar(type(e)(*consts))))
            return self.chain(arrs[0], steps) if steps else ("np.positive", [arrs[0]])
        if type(e) in _NUMPY:
            return _NUMPY[type(e)], [self.array(e.args[0])]
        if type(e) in _REL:
            rel, lhs, rhs = self.relation(e)
            return _REL[rel][1], [self.array(lhs), self.operand(rhs)]
        if isinstance(e, (sp.And, sp.Or)):
            f = "np.logical_and" if isinstance(e, sp.And) else "np.logical_or"
            args = [self.operand(a) for a in e.args]
            return self.chain(args[0], [(f, a) for a in args[1:]])
        if isinstance(e, sp.Not):
            return "np.logical_not", [self.array(e.args[0])]
        raise KernelError(f"cannot generate NumPy code for {type(e).__name__} ({e})")

    def into(self, e: sp.Basic, out: str, where: str | None) -> None:
        """Write ``e`` into ``out`` (where ``where`` holds, if given)."""
        w = f", where={where}" if where else ""
        if not self.is_array(e):
            self.line(f"np.copyto({out}, {self.scalar(e)}{w})")
        elif e.is_Symbol or e in self.memo:
            self.line(f"np.copyto({out}, {self.array(e)}{w})")
        elif isinstance(e, sp.Piecewise):
            if where:
                self.line(f"np.copyto({out}, {self.array(e)}{w})")
            else:
                self.piecewise_into(e, out, "mask")
        else:
            f, args = self.op(e)
            self.line(f"{f}({', '.join(args)}, out={out}{w})")

    def piecewise_into(self, e: sp.Piecewise, out: str, mask: str | None) -> None:
        """Last branch first; an earlier branch overwrites where its condition holds."""
        branches = list(e.args)
        if branches[-1].cond is sp.true:
            self.into(branches.pop().expr, out, None)
        else:
            self.line(f"np.copyto({out}, NAN)")
        for val, cond in reversed(branches):
            if not self.is_array(cond):
                where = self.scalar(cond)
            elif mask is None:
                where = self.array(cond)
            else:
                f, args = self.op(cond)
                self.line(f"{f}({', '.join(args)}, out={mask})")
                where = mask
            self.into(val, out, where)


class _TorchCode(_Code):
    """torch: expressions on tensors; ``Piecewise`` is a ``torch.where`` chain."""

    def array(self, e: sp.Basic) -> str:
        if e in self.memo:
            return self.memo[e]
        if e.is_Symbol:
            return self.name_of(e)
        code = self.expr(e)
        name = code if code.isidentifier() else self.tmp(code)
        self.memo[e] = name
        return name

    def expr(self, e: sp.Basic) -> str:
        """Python expression for array node ``e`` (operators chain left to right)."""
        a = self.array
        if isinstance(e, sp.Add):
            terms = [t for t in e.as_ordered_terms() if self.is_array(t)]
            consts = [t for t in e.args if not self.is_array(t)]
            u = _negated(terms[0])
            if u is not None and len(terms) == 1 and consts:
                return f"{self.scalar(sp.Add(*consts))} - {a(u)}"
            code = a(terms[0]) if u is None else f"-{a(u)}"
            for t in terms[1:]:
                u = _negated(t)
                code += f" + {a(t)}" if u is None else f" - {a(u)}"
            if consts:
                c = sp.Add(*consts)
                u = -c if (c.is_number and c.is_negative) else _negated(c)
                code += f" + {self.scalar(c)}" if u is None else f" - {self.scalar(u)}"
            return code
        if isinstance(e, sp.Mul):
            coeff = sp.Mul(*[f for f in e.args if not self.is_array(f)])
            num, den = [], []
            for f in e.args:
                if not self.is_array(f):
                    continue
                if isinstance(f, sp.Pow) and f.exp.is_number and f.exp.is_negative:
                    den.append(sp.Pow(f.base, -f.exp))
                else:
                    num.append(f)
            parts = ([self.scalar(coeff)] if coeff != 1 or not num else []) + [a(f) for f in num]
            return " * ".join(parts) + "".join(f" / {a(f)}" for f in den)
        if isinstance(e, sp.Pow):
            b, k = e.args
            if self.is_array(k):
                return f"torch.pow({self.operand(b)}, {a(k)})"
            if k == 2:
                return f"torch.square({a(b)})"
            if k == sp.S.Half:
                return f"torch.sqrt({a(b)})"
            if k == -1:
                return f"torch.reciprocal({a(b)})"
            if k == -sp.S.Half:
                return f"torch.rsqrt({a(b)})"
            return f"torch.pow({a(b)}, {int(k) if k.is_Integer else self.scalar(k)})"
        if isinstance(e, (sp.Max, sp.Min)):
            big = isinstance(e, sp.Max)
            arrs = [a(t) for t in e.args if self.is_array(t)]
            consts = [t for t in e.args if not self.is_array(t)]
            code = arrs[0]
            for t in arrs[1:]:
                code = self.tmp(f"torch.{'maximum' if big else 'minimum'}({code}, {t})")
            if consts:
                s = self.scalar(type(e)(*consts))
                return f"torch.{'clamp_min' if big else 'clamp_max'}({code}, {s})"
            return code
        if type(e) in _TORCH:
            return f"{_TORCH[type(e)]}({a(e.args[0])})"
        if isinstance(e, sp.Piecewise):
            branches = list(e.args)
            if branches[-1].cond is sp.true:
                last = branches.pop().expr
                acc, is_tensor = self.operand(last), self.is_array(last)
            else:
                acc, is_tensor = "NAN", False
            for val, cond in reversed(branches):
                v = self.operand(val)
                if not is_tensor and not self.is_array(val):
                    acc, is_tensor = self.tmp(f"torch.full_like(x, {acc})"), True
                if self.is_array(cond):
                    acc = self.tmp(f"torch.where({a(cond)}, {v}, {acc})")
                else:  # a condition on the parameters only
                    if not self.is_array(val):
                        v = self.tmp(f"torch.full_like(x, {v})")
                    acc = self.tmp(f"({v} if {self.scalar(cond)} else {acc})")
                is_tensor = True
            return acc
        if type(e) in _REL:
            rel, lhs, rhs = self.relation(e)
            return f"{a(lhs)} {_REL[rel][0]} {self.operand(rhs)}"
        if isinstance(e, (sp.And, sp.Or)):
            op = " & " if isinstance(e, sp.And) else " | "
            return op.join(f"({self.operand(t)})" for t in e.args)
        if isinstance(e, sp.Not):
            return f"torch.logical_not({a(e.args[0])})"
        raise KernelError(f"cannot generate torch code for {type(e).__name__} ({e})")


_NAMESPACE_NUMPY = {"np": np, "sc": sc, "math": math, "INF": math.inf, "NAN": math.nan,
                    "_sign": _sign}


def _emit(kind: str, fname: str, expr: sp.Expr, symbols: tuple[sp.Symbol, ...],
          with_g: bool) -> str:
    names = {X: "x", **{s: f"p{i}" for i, s in enumerate(symbols)}}
    arrays = {X}
    if with_g:
        names[G] = "g"
        arrays.add(G)
    params = [f"p{i}" for i in range(len(symbols))]
    if kind == "numpy":
        code: _Code = _NumpyCode(names, arrays)
        code.into(expr, "out", None)
        args = ["x", "out", "mask", *params]
        result = "out"
    else:
        code = _TorchCode(names, arrays)
        if not code.is_array(expr):
            result = code.tmp(f"torch.full_like(x, {code.scalar(expr)})")
        else:
            result = code.array(expr)
            if result == "x":  # an autograd.Function must not return its input
                result = code.tmp(f"{result}.clone()")
        args = ["x", *(["g"] if with_g else []), *params]
    body = "\n".join(f"    {ln}" for ln in code.lines)
    return f"def {fname}({', '.join(args)}):\n{body}{chr(10) if body else ''}    return {result}\n"


_counter = [0]


def _compile(src: str, fname: str, namespace: dict[str, Any]) -> Callable:
    _counter[0] += 1
    filename = f"<eoctheory.nets.kernels generated {_counter[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns = dict(namespace)
    exec(compile(src, filename, "exec"), ns)  # noqa: S102 - source generated from a SymPy tree
    return ns[fname]


@functools.lru_cache(maxsize=256)
def _sources(expr: sp.Expr, symbols: tuple[sp.Symbol, ...], kind: str) -> tuple[str, str]:
    fwd = _emit(kind, "phi", _prepare(expr), symbols, False)
    if kind == "numpy":
        back = _emit(kind, "dphi", derivative_expr(expr), symbols, False)
    else:
        back = _emit(kind, "vjp", vjp_expr(expr), symbols, True)
    return fwd, back


@functools.lru_cache(maxsize=256)
def _numpy_functions(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]
                     ) -> tuple[Callable, Callable, bool, bool]:
    fwd, back = _sources(expr, symbols, "numpy")
    return (_compile(fwd, "phi", _NAMESPACE_NUMPY), _compile(back, "dphi", _NAMESPACE_NUMPY),
            "mask" in fwd.split("\n", 1)[1], "mask" in back.split("\n", 1)[1])


def generated_source(activation: Activation | str, backend: str = "numpy",
                     which: str = "forward") -> str:
    r"""The generated Python source of an activation's kernel, to read.

    Parameters
    ----------
    activation : Activation or str
    backend : {"numpy", "torch"}
    which : {"forward", "backward"}
        :math:`\phi` or, for NumPy, :math:`\phi'`; for torch, :math:`g\,\phi'(x)`.
    """
    act = get_activation(activation)
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if which not in ("forward", "backward"):
        raise ValueError(f"which must be 'forward' or 'backward', got {which!r}")
    if act.expr is None:
        raise KernelError(f"activation {act.name!r} is numeric-only (no expression)")
    return _sources(act.expr, act.symbols, backend)[which == "backward"]


# ------------------------------------------------------------------------------------------
# Piecewise-linear activations: runs of one branch between breakpoints
# ------------------------------------------------------------------------------------------
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
class _Linear:
    """Symbolic side: branches ``a_i x + c_i``, conditions built from atoms ``x OP t_j``."""

    conds: tuple[sp.Basic, ...]
    atoms: dict[sp.Basic, tuple[str, int]]
    scalars: Callable[..., tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]]
    branches: tuple[sp.Expr, ...]


def _plain_boolean(c: sp.Basic) -> bool:
    if c is sp.true or c is sp.false or type(c) in _REL:
        return True
    return isinstance(c, (sp.And, sp.Or, sp.Not)) and all(_plain_boolean(a) for a in c.args)


@functools.lru_cache(maxsize=256)
def _linear_form(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> _Linear | None:
    """The piecewise-linear structure of ``expr``, or None if it is not of that kind."""
    pw = to_piecewise(expr)
    pairs = [(p.expr, p.cond) for p in pw.args] if isinstance(pw, sp.Piecewise) else \
        [(pw, sp.true)]
    code = _Code({X: "x", **{s: f"p{i}" for i, s in enumerate(symbols)}}, {X})
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
            atoms[rel] = (_REL[r][0], thresholds.index(rhs))
    try:
        outs = [[code.scalar(e) for e in group] for group in (thresholds, slopes, icpts)]
    except KernelError:
        return None
    ret = ", ".join(f"({', '.join(g)}{',' if len(g) == 1 else ''})" for g in outs)
    params = ", ".join(f"p{i}" for i in range(len(symbols)))
    body = "".join(f"    {ln}\n" for ln in code.lines)
    src = f"def scalars({params}):\n{body}    return ({ret})\n"
    return _Linear(tuple(c for _, c in pairs), atoms, _compile(src, "scalars", _NAMESPACE_NUMPY),
                   tuple(v for v, _ in pairs))


def _truth(c: sp.Basic, r: float, lin: _Linear, thr: list[float]) -> bool:
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


def _runs(lin: _Linear, vals: tuple[float, ...], rnd: Callable[[float], float]
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
class _Plan:
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


def _plan(runs: list[Run], rnd: Callable[[float], float],
          value_at: Callable[[int, float], float], for_gradient: bool) -> _Plan:
    """``for_gradient``: the clamp's derivative must vanish at ``b``, so the constant run
    must hold there; and no clamp from above alone (see :func:`_torch_linear`)."""

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
    return _Plan(lo_c, hi_c, terms, len(inner) == 1, tuple(r for r in runs if r.slope != 0),
                 tuple(fixes))


class _PlanCache:
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


def _np_rounding(dtype: np.dtype) -> tuple[Callable, Callable, Callable]:
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
    lin = _linear_form(act.expr, act.symbols)
    if lin is None:
        return None
    return _runs(lin, tuple(_scalar_values(act, {})), _np_rounding(np.dtype(dtype))[0])


# ------------------------------------------------------------------------------------------
# NumPy kernels
# ------------------------------------------------------------------------------------------
def _np_interval(x: np.ndarray, lo: float, lo_closed: bool, hi: float, hi_closed: bool,
                 mask: np.ndarray, mask2: np.ndarray, lo_known: float = -math.inf,
                 hi_known: float = math.inf) -> np.ndarray | None:
    """``mask = (lo <(=) x <(=) hi)``; None if every x (known to lie in the clamp) is in."""
    test_lo = lo > lo_known or (lo == lo_known and not lo_closed and lo > -math.inf)
    test_hi = hi < hi_known or (hi == hi_known and not hi_closed and hi < math.inf)
    if test_lo:
        (np.greater_equal if lo_closed else np.greater)(x, lo, out=mask)
    if test_hi:
        (np.less_equal if hi_closed else np.less)(x, hi, out=mask2 if test_lo else mask)
        if test_lo:
            np.logical_and(mask, mask2, out=mask)
    return mask if (test_lo or test_hi) else None


class _NumpyLinear:
    """Run-by-run NumPy evaluation of a piecewise-linear phi (plans cached per values/dtype)."""

    def __init__(self, lin: _Linear, branch_fns: tuple[Callable, ...]) -> None:
        self.lin = lin
        self.branch_fns = branch_fns
        self.cache = _PlanCache(self._build)

    def _build(self, vals: tuple[float, ...], dtype: np.dtype) -> _Plan | None:
        rnd = _np_rounding(dtype)[0]
        runs = _runs(self.lin, vals, rnd)
        if runs is None:
            return None

        def value_at(k: int, b: float) -> float:
            x = np.array([b], dtype)
            with np.errstate(all="ignore"):
                return float(self.branch_fns[k](x, np.empty_like(x), None, *vals)[0])
        return _plan(runs, rnd, value_at, for_gradient=False)

    def forward(self, plan: _Plan, x: np.ndarray, out: np.ndarray, mask: np.ndarray,
                vals: tuple[float, ...]) -> None:
        lo_c, hi_c = plan.clamp_lo, plan.clamp_hi
        xc = x
        if lo_c > -math.inf or hi_c < math.inf:
            xc = np.clip(x, lo_c if lo_c > -math.inf else None,
                         hi_c if hi_c < math.inf else None)
        bounded = lo_c > -math.inf and hi_c < math.inf
        mask2 = np.empty_like(mask)
        tmp = np.empty_like(out) if (len(plan.terms) > 1 or plan.fixes) else out
        if not plan.terms:
            out.fill(0)
        elif plan.single:
            r = plan.terms[0]
            if r.slope == 0:
                np.copyto(out, r.intercept)
            else:
                self.branch_fns[r.branch](xc, out, mask, *vals)
        else:
            for i, r in enumerate(plan.terms):
                target = out if i == 0 else tmp
                m = _np_interval(xc, r.lo, r.lo_closed, r.hi, r.hi_closed, mask, mask2,
                                 lo_c, hi_c)
                if r.slope == 0:
                    np.copyto(target, m if m is not None else True)
                    np.multiply(target, r.intercept, out=target)
                else:
                    xr = xc
                    if not bounded and m is not None:  # keep the unselected values finite
                        xr = np.clip(xc, None if r.lo == -math.inf else r.lo,
                                     None if r.hi == math.inf else r.hi, out=target)
                    self.branch_fns[r.branch](xr, target, mask2, *vals)
                    if m is not None:
                        np.multiply(target, m, out=target)
                if i:
                    np.add(out, tmp, out=out)
        for r, d in plan.fixes:  # the constant runs whose value the clamp rounded
            m = _np_interval(xc, r.lo, r.lo_closed, r.hi, r.hi_closed, mask, mask2)
            np.copyto(tmp, m)
            np.multiply(tmp, d, out=tmp)
            np.add(out, tmp, out=out)

    def derivative(self, plan: _Plan, x: np.ndarray, out: np.ndarray,
                   mask: np.ndarray) -> None:
        slopes: dict[float, list[Run]] = {}
        for r in plan.dterms:
            slopes.setdefault(r.slope, []).append(r)
        if not slopes:
            out.fill(0)
            return
        mask2 = np.empty_like(mask)
        acc = np.empty_like(mask) if any(len(v) > 1 for v in slopes.values()) else None
        tmp = np.empty_like(out) if len(slopes) > 1 else out
        for i, (a, rs) in enumerate(slopes.items()):
            target = out if i == 0 else tmp
            m: np.ndarray | None = None
            for j, r in enumerate(rs):
                mj = _np_interval(x, r.lo, r.lo_closed, r.hi, r.hi_closed, mask, mask2)
                if mj is None:  # the whole line
                    m = None
                    break
                if len(rs) == 1:
                    m = mj
                elif j == 0:
                    m = acc
                    np.copyto(acc, mj)
                else:
                    np.logical_or(acc, mj, out=acc)
            np.copyto(target, m if m is not None else True)
            if a != 1:
                np.multiply(target, a, out=target)
            if i:
                np.add(out, tmp, out=out)


@functools.lru_cache(maxsize=256)
def _numpy_linear(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> _NumpyLinear | None:
    lin = _linear_form(expr, symbols)
    if lin is None:
        return None
    fns = tuple(_compile(_emit("numpy", "phi", v, symbols, False), "phi", _NAMESPACE_NUMPY)
                for v in lin.branches)
    return _NumpyLinear(lin, fns)


class NumpyKernels:
    r"""Generated NumPy :math:`\phi` and :math:`\phi'` of one activation, in the input's dtype.

    Parameters
    ----------
    activation : Activation or str
        Catalogue name or :class:`~eoctheory.engine.activations.Activation`; a numeric-only
        one uses its ``func``/``derivative`` (computed in float64, cast back).
    **params : float
        Parameter values (default: the activation's); scalars.

    Notes
    -----
    ``x`` of a floating dtype is computed in that dtype (no upcast: parameters and constants
    are Python floats), other inputs as float64. ``out`` (same shape and dtype as ``x``) may
    be ``x`` itself. A piecewise-linear activation (:func:`piecewise_linear_runs`) is
    evaluated run by run -- a clamp of the input where the end runs are constant, one
    comparison per remaining run boundary -- which gives the same values as the ``where``
    chain: every run's formula is the branch's own, evaluated at the same ``x``. Anything
    else uses the generated ``where`` chain, which evaluates every branch and discards the
    unselected values (floating-point warnings from those are silenced). A NaN input gives
    NaN on the piecewise-linear route and the last branch on the ``where`` chain (as
    :meth:`Activation.__call__`).

    Examples
    --------
    >>> import numpy as np
    >>> k = NumpyKernels("st", tau=0.5)
    >>> x = np.array([-2.0, 0.25, 1.0])
    >>> k.forward(x), k.derivative(x)
    (array([-1.5,  0. ,  0.5]), array([1., 0., 1.]))
    """

    def __init__(self, activation: Activation | str, **params: float) -> None:
        act = get_activation(activation, **params)
        self.activation = act
        self.values = tuple(_scalar_values(act, {}))
        self._phi = self._dphi = self._linear = None
        self._phi_mask = self._dphi_mask = False
        if act.expr is not None:
            (self._phi, self._dphi, self._phi_mask,
             self._dphi_mask) = _numpy_functions(act.expr, act.symbols)
            self._linear = _numpy_linear(act.expr, act.symbols)

    def __repr__(self) -> str:
        return f"NumpyKernels({self.activation!r})"

    @property
    def piecewise_linear(self) -> bool:
        """Whether the run-by-run route is used (see :func:`piecewise_linear_runs`)."""
        return self._linear is not None

    def _args(self, x: Any, out: np.ndarray | None, params: dict[str, float]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]:
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float64)
        vals = self.values if not params else tuple(_scalar_values(self.activation, params))
        if out is None:
            return x, np.empty_like(x), np.empty_like(x), vals
        if not isinstance(out, np.ndarray) or out.shape != x.shape or out.dtype != x.dtype:
            raise ValueError(f"out must be an array of shape {x.shape} and dtype {x.dtype}, "
                             f"got {getattr(out, 'shape', None)} "
                             f"{getattr(out, 'dtype', type(out).__name__)}")
        return x, out, (np.empty_like(x) if np.may_share_memory(x, out) else out), vals

    def forward(self, x: Any, out: np.ndarray | None = None, *,
                mask: np.ndarray | None = None, **params: float) -> np.ndarray:
        r""":math:`\phi(x)` in ``x``'s dtype, into ``out`` if given (``mask``: bool scratch).

        Raises
        ------
        ValueError
            ``out`` of another shape or dtype; a parameter out of its range.
        """
        x, out, target, vals = self._args(x, out, params)
        self.phi_into(x, target, mask, vals)
        if target is not out:
            np.copyto(out, target)
        return out

    def derivative(self, x: Any, out: np.ndarray | None = None, *,
                   mask: np.ndarray | None = None, **params: float) -> np.ndarray:
        r""":math:`\phi'(x)` (0 at kinks bounding a flat part; see :func:`derivative_expr`)."""
        x, out, target, vals = self._args(x, out, params)
        self.dphi_into(x, target, mask, vals)
        if target is not out:
            np.copyto(out, target)
        return out

    def phi_into(self, x: np.ndarray, out: np.ndarray, mask: np.ndarray | None = None,
                 vals: tuple[float, ...] | None = None) -> np.ndarray:
        r"""Unchecked :meth:`forward` for inner loops: ``x`` floating, ``out`` of its shape and
        dtype and not overlapping it, ``mask`` a bool scratch of its shape (or None),
        ``vals`` Python floats (default :attr:`values`)."""
        vals = self.values if vals is None else vals
        if mask is None or mask.shape != x.shape:
            mask = np.empty(x.shape, bool)
        with np.errstate(all="ignore"):
            if self._phi is None:
                out[...] = self.activation(x)
                return out
            plan = self._linear.cache.get(vals, x.dtype) if self._linear else None
            if plan is not None:
                self._linear.forward(plan, x, out, mask, vals)
            else:
                self._phi(x, out, mask, *vals)
        return out

    def dphi_into(self, x: np.ndarray, out: np.ndarray, mask: np.ndarray | None = None,
                  vals: tuple[float, ...] | None = None) -> np.ndarray:
        r"""Unchecked :meth:`derivative` (same contract as :meth:`phi_into`)."""
        vals = self.values if vals is None else vals
        if mask is None or mask.shape != x.shape:
            mask = np.empty(x.shape, bool)
        with np.errstate(all="ignore"):
            if self._dphi is None:
                out[...] = self.activation.derivative(x)
                return out
            plan = self._linear.cache.get(vals, x.dtype) if self._linear else None
            if plan is not None:
                self._linear.derivative(plan, x, out, mask)
            else:
                self._dphi(x, out, mask, *vals)
        return out

    def mul_derivative(self, g: np.ndarray, x: np.ndarray, tmp: np.ndarray | None = None,
                       mask: np.ndarray | None = None) -> np.ndarray:
        r"""``g *= phi'(x)`` in place (backpropagation through :math:`\phi`); returns ``g``.

        Unchecked, for inner loops: ``g`` and ``x`` of one shape and floating dtype; ``tmp``
        (that shape and dtype) and ``mask`` (bool) are optional scratch arrays.
        """
        if mask is None or mask.shape != x.shape:
            mask = np.empty(x.shape, bool)
        plan = self._linear.cache.get(self.values, x.dtype) if self._linear else None
        if plan is not None and len(plan.dterms) == 1 and plan.dterms[0].slope == 1:
            r = plan.dterms[0]
            m = _np_interval(x, r.lo, r.lo_closed, r.hi, r.hi_closed, mask,
                             np.empty_like(mask))
            if m is not None:
                np.multiply(g, m, out=g)
            return g
        if tmp is None or tmp.shape != x.shape or tmp.dtype != x.dtype:
            tmp = np.empty_like(x)
        np.multiply(g, self.dphi_into(x, tmp, mask), out=g)
        return g


def _scalar_values(act: Activation, params: dict[str, Any]) -> list[float]:
    vals = act.resolve(params)
    if any(v.ndim for v in vals):
        raise ValueError("kernel parameters must be scalars (one value per parameter)")
    return [float(v) for v in vals]


def numpy_kernels(activation: Activation | str, **params: float) -> NumpyKernels:
    """The generated NumPy kernels of an activation (see :class:`NumpyKernels`)."""
    return NumpyKernels(activation, **params)


# ------------------------------------------------------------------------------------------
# torch
# ------------------------------------------------------------------------------------------
def _torch_rounding(torch: Any, dtype: Any) -> tuple[Callable, Callable, Callable]:
    def rnd(v: float) -> float:
        return torch.tensor(v, dtype=dtype).item()

    def step(v: float, to: float) -> float:
        t = torch.tensor(v, dtype=dtype)
        return torch.nextafter(t, torch.tensor(to, dtype=dtype)).item()

    return rnd, (lambda v: step(v, math.inf)), (lambda v: step(v, -math.inf))


def _torch_linear(expr: sp.Expr, symbols: tuple[sp.Symbol, ...],
                  fallback: Callable) -> Callable | None:
    """Run-by-run torch forward of a piecewise-linear phi; autograd gives the derivative.

    Each run contributes ``select(a x + c)`` with the fused selections
    ``hardtanh_backward(v, x, lo, hi)`` (:math:`v` where :math:`lo < x < hi`, else 0) and
    ``threshold_backward(v, x, t)`` (:math:`v` where :math:`x > t`); a closed end is the
    open test at the neighbouring float of the dtype. Their derivative with respect to ``v``
    is the same selection, so autograd gives exactly the run's slope on the run (its end
    points included when closed) and 0 elsewhere. The clamp is ``hardtanh`` (``threshold``
    when only from below), whose derivative is 0 at the clamp points, where the constant
    run holds; a ``NaN`` input gives ``NaN``.
    """
    import torch
    import torch.nn.functional as F

    lin = _linear_form(expr, symbols)
    if lin is None:
        return None
    ns = {"torch": torch, "math": math, "INF": math.inf, "NAN": math.nan, "_sign": _sign}
    fns = tuple(_compile(_emit("torch", "phi", v, symbols, False), "phi", ns)
                for v in lin.branches)
    hb = torch.ops.aten.hardtanh_backward
    tb = torch.ops.aten.threshold_backward

    def build(vals: tuple[float, ...], dtype: Any) -> Callable:
        try:
            rnd, up, down = _torch_rounding(torch, dtype)
            runs = _runs(lin, vals, rnd)
        except (RuntimeError, TypeError):  # a dtype without nextafter/rounding
            runs = None
        if runs is None:
            return fallback

        def value_at(k: int, b: float) -> float:
            return float(fns[k](torch.tensor([b], dtype=dtype), *vals)[0])

        # no clamp from above alone: min(x, b) with derivative 1 at x = -inf and 0 at b
        # has no single fused op
        plan = _plan(runs, rnd, value_at, for_gradient=True)
        lo_c, hi_c = plan.clamp_lo, plan.clamp_hi
        steps = []
        for r in plan.terms + tuple(replace(r, intercept=d) for r, d in plan.fixes):
            need_lo = not (r.lo == -math.inf or (r.lo == lo_c and r.lo_closed))
            need_hi = not (r.hi == math.inf or (r.hi == hi_c and r.hi_closed))
            a = (down(r.lo) if r.lo_closed else r.lo) if need_lo else 0.0
            b = (up(r.hi) if r.hi_closed else r.hi) if need_hi else 0.0
            kind = 3 if need_lo and need_hi else 1 if need_lo else 2 if need_hi else 0
            if kind == 2:  # x < b  <=>  -x > -b (negation is exact)
                a = -b
            steps.append((None if r.slope == 0 else fns[r.branch], r.intercept, kind, a, b))
        negate = any(s[2] == 2 for s in steps)

        def forward(x: Any, *p: float) -> Any:
            # clamp with derivative 1 strictly inside (infinities included), 0 at the ends
            if hi_c < math.inf:
                xc = F.hardtanh(x, lo_c, hi_c)
            elif lo_c > -math.inf:
                xc = F.threshold(x, lo_c, lo_c)
            else:
                xc = x
            if not steps:
                return torch.zeros_like(x)
            xd = xc.detach()
            neg = torch.neg(xd) if negate else None
            y = None
            for f, c, kind, a, b in steps:
                v = f(xc, *p) if f is not None else xd.new_full((), c).expand_as(xd)
                if kind == 1:
                    v = tb(v, xd, a)
                elif kind == 2:
                    v = tb(v, neg, a)
                elif kind == 3:
                    v = hb(v, xd, a, b)
                elif f is None:
                    v = torch.full_like(xd, c)
                y = v if y is None else y + v
            return y
        return forward

    cache = _PlanCache(build)

    def apply(x: Any, *p: float) -> Any:
        p = tuple(map(float, p))
        return cache.get(p, x.dtype)(x, *p)

    return apply


def _torch_where(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> Callable:
    """The generated ``where`` chain with the generated vector-Jacobian product as backward."""
    import torch

    fwd_src, vjp_src = _sources(expr, symbols, "torch")
    ns = {"torch": torch, "math": math, "INF": math.inf, "NAN": math.nan, "_sign": _sign}
    fwd = _compile(fwd_src, "phi", ns)
    vjp = _compile(vjp_src, "vjp", ns)
    n = len(symbols)

    class GeneratedActivation(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x, *p):
            return fwd(x, *p)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])
            ctx.params = inputs[1:]

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return (vjp(x, g, *ctx.params),) + (None,) * n

    return GeneratedActivation.apply


def _is_smooth(expr: sp.Expr) -> bool:
    return not expr.has(sp.Piecewise, sp.Max, sp.Min, sp.Abs, sp.sign, sp.Heaviside)


@functools.lru_cache(maxsize=256)
def _torch_apply(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> tuple[Callable, str]:
    import torch

    if _is_smooth(expr):  # autograd of the generated ops is the symbolic derivative
        ns = {"torch": torch, "math": math, "INF": math.inf, "NAN": math.nan, "_sign": _sign}
        return _compile(_sources(expr, symbols, "torch")[0], "phi", ns), "autograd"
    where = _torch_where(expr, symbols)
    linear = _torch_linear(expr, symbols, where)
    return (linear, "runs") if linear is not None else (where, "where")


def _torch_numeric(act: Activation) -> Callable:
    import torch

    class NumericActivation(torch.autograd.Function):
        @staticmethod
        def forward(x):
            y = np.asarray(act(x.detach().cpu().double().numpy()))
            return torch.from_numpy(y).to(device=x.device, dtype=x.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            d = np.asarray(act.derivative(x.detach().cpu().double().numpy()))
            return g * torch.from_numpy(d).to(device=g.device, dtype=g.dtype)

    return lambda x, *p: NumericActivation.apply(x)


def torch_route(activation: Activation | str) -> str:
    """How :func:`torch_function` evaluates an activation.

    ``"autograd"`` (smooth: the generated ops, differentiated by autograd), ``"runs"``
    (piecewise linear: run-by-run fused selections, differentiated by autograd), ``"where"``
    (other piecewise: a ``where`` chain with the generated :math:`g\\,\\phi'` as backward) or
    ``"numpy"`` (numeric-only).
    """
    act = get_activation(activation)
    return "numpy" if act.expr is None else _torch_apply(act.expr, act.symbols)[1]


def torch_function(activation: Activation | str) -> Callable[..., Any]:
    r"""The generated torch function ``f(x, *values)`` of an activation, autograd-correct.

    ``values`` are the parameter values as Python floats in declared order
    (``activation.values``). Three routes (:func:`torch_route`), each with the derivative of
    :func:`derivative_expr` -- exactly 0 on flat parts and at their end points, never
    ``NaN`` from an unselected branch:

    * smooth expressions: the generated ops; autograd differentiates them;
    * piecewise-linear ones: run by run with fused selections (see
      :func:`piecewise_linear_runs`), values equal to the ``where`` chain's, slopes exact;
    * other piecewise ones: a :class:`torch.autograd.Function` whose forward is the
      generated ``where`` chain and whose backward is the generated
      :math:`\operatorname{Piecewise}(g\,e_i', c_i)` (:func:`vjp_expr`).

    Any floating dtype and device. Numeric-only activations go through NumPy on the host.

    Raises
    ------
    KernelError
        The expression uses an operation the generator does not translate.

    Examples
    --------
    >>> import torch
    >>> f = torch_function("crelu")
    >>> x = torch.tensor([0.2, 0.7, 2.0], requires_grad=True)
    >>> y = f(x, 0.5, 1.0)
    >>> y.sum().backward()
    >>> y.detach(), x.grad
    (tensor([0.0000, 0.2000, 1.0000]), tensor([0., 1., 0.]))
    """
    act = get_activation(activation)
    if act.expr is None:
        return _torch_numeric(act)
    return _torch_apply(act.expr, act.symbols)[0]
