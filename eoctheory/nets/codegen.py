r"""Code generation from an activation's definition: :math:`\phi`, :math:`\phi'`, :math:`g\phi'`.

An :class:`~eoctheory.engine.activations.Activation` is a SymPy expression :math:`\phi(x)`
with symbolic parameters. This module translates :math:`\phi` and its derivative

.. math::

    \phi'(x) = \frac{d}{dx}\,\operatorname{Piecewise}[\phi](x)

(``Max``/``Min``/``Abs``/``sign``/``Heaviside`` rewritten as ``Piecewise`` first; at a kink
:math:`\phi'` is the derivative of the branch whose condition holds there, so a flat part
keeps derivative exactly 0 up to and including its end points -- the convention of
:meth:`Activation.derivative <eoctheory.engine.activations.Activation.derivative>`) into
Python source for NumPy or torch that computes in the dtype of the input (float32 stays
float32: parameters and constants enter as Python floats): straight-line code, one line per
node of the expression tree (shared subexpressions once; :func:`generated_source` shows it).
A ``Piecewise`` is a ``where`` chain: in NumPy evaluated from the last branch to the first,
each branch's top operation a ufunc call with ``out=out, where=c_i``; in torch nested
``torch.where``, whose backward is the generated vector-Jacobian product
``Piecewise((g * e_i', c_i), ...)`` (:func:`vjp_expr`), so an unselected branch (``exp``
overflowing, ``sqrt`` of a negative number) cannot leak ``NaN`` into the gradient as it does
through autograd of ``torch.where``.

Only expressions the package built are translated (the code is generated from the SymPy
tree, node type by node type, from a whitelist: arithmetic, integer and rational powers,
``exp``, ``log``, the trigonometric and hyperbolic functions, ``erf``, ``erfc``, ``Abs``,
``sign``, ``Max``, ``Min``, ``Heaviside``, ``Piecewise`` with relational conditions;
variables get generated names ``x``, ``g``, ``p0``, ``p1``, ...), as :func:`sympy.lambdify`
does; anything else raises :class:`KernelError`.

The kernels that run the generated code are :class:`~eoctheory.nets.kernels.NumpyKernels`
and :func:`~eoctheory.nets.torch_kernels.torch_function`; piecewise-linear activations are
evaluated run by run (:mod:`eoctheory.nets.piecewise_linear`). Importing this module does
not import torch.

Examples
--------
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
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special as sc
import sympy as sp

from eoctheory.engine.activations import X, Activation, derivative_expr, get_activation
from eoctheory.engine.gaussian import to_piecewise

__all__ = [
    "CodeBuilder",
    "G",
    "KernelError",
    "NUMPY_NAMESPACE",
    "RELATIONS",
    "compile_source",
    "derivative_expr",
    "emit",
    "generated_source",
    "scalar_values",
    "sources",
    "to_piecewise",
    "torch_namespace",
    "vjp_expr",
]

class KernelError(ValueError):
    """The activation's expression uses something the code generator does not translate."""


#: The incoming gradient :math:`g` of the vector-Jacobian product (never a user symbol).
G = sp.Dummy("g", real=True)


# ------------------------------------------------------------------------------------------
# Expressions: phi' and g phi' from the definition
# ------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)


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
RELATIONS = {sp.StrictLessThan: ("<", "np.less", sp.StrictGreaterThan),
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


class CodeBuilder:
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
        elif type(e) in RELATIONS:
            code = f"{s(e.lhs)} {RELATIONS[type(e)][0]} {s(e.rhs)}"
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
            rel, lhs, rhs = RELATIONS[rel][2], rhs, lhs
        u = _negated(lhs)
        if u is not None and lhs.args[0] == -1 and not self.is_array(rhs):
            rel, lhs, rhs = RELATIONS[rel][2], u, -rhs
        return rel, lhs, rhs

    def array(self, e: sp.Basic) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class _NumpyCode(CodeBuilder):
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
        if type(e) in RELATIONS:
            rel, lhs, rhs = self.relation(e)
            return RELATIONS[rel][1], [self.array(lhs), self.operand(rhs)]
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


class _TorchCode(CodeBuilder):
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
        if type(e) in RELATIONS:
            rel, lhs, rhs = self.relation(e)
            return f"{a(lhs)} {RELATIONS[rel][0]} {self.operand(rhs)}"
        if isinstance(e, (sp.And, sp.Or)):
            op = " & " if isinstance(e, sp.And) else " | "
            return op.join(f"({self.operand(t)})" for t in e.args)
        if isinstance(e, sp.Not):
            return f"torch.logical_not({a(e.args[0])})"
        raise KernelError(f"cannot generate torch code for {type(e).__name__} ({e})")


#: The names generated NumPy source refers to (:func:`compile_source` runs it in a copy).
NUMPY_NAMESPACE = {"np": np, "sc": sc, "math": math, "INF": math.inf, "NAN": math.nan,
                   "_sign": _sign}


def torch_namespace() -> dict[str, Any]:
    """The names generated torch source refers to (imports torch)."""
    import torch

    return {"torch": torch, "math": math, "INF": math.inf, "NAN": math.nan, "_sign": _sign}


def emit(kind: str, fname: str, expr: sp.Expr, symbols: tuple[sp.Symbol, ...],
         with_g: bool) -> str:
    """Source of ``def fname(x, out, mask, p0, ...)`` (``kind="numpy"``: writes ``expr`` into
    ``out``) or ``def fname(x, [g,] p0, ...)`` (``"torch"``: returns it); ``with_g``: ``expr``
    also depends on :data:`G`, the argument ``g``."""
    names = {X: "x", **{s: f"p{i}" for i, s in enumerate(symbols)}}
    arrays = {X}
    if with_g:
        names[G] = "g"
        arrays.add(G)
    params = [f"p{i}" for i in range(len(symbols))]
    if kind == "numpy":
        code: CodeBuilder = _NumpyCode(names, arrays)
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


def compile_source(src: str, fname: str, namespace: dict[str, Any]) -> Callable:
    """The function ``fname`` of generated source ``src``, run in a copy of ``namespace``
    (its lines registered with :mod:`linecache` for tracebacks)."""
    _counter[0] += 1
    filename = f"<eoctheory.nets.codegen generated {_counter[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns = dict(namespace)
    exec(compile(src, filename, "exec"), ns)  # noqa: S102 - source generated from a SymPy tree
    return ns[fname]


@functools.lru_cache(maxsize=256)
def sources(expr: sp.Expr, symbols: tuple[sp.Symbol, ...], kind: str) -> tuple[str, str]:
    r"""The generated forward and backward source of ``expr`` (cached): :math:`\phi` and
    :math:`\phi'` (``"numpy"``) or :math:`\phi` and :math:`g\,\phi'` (``"torch"``)."""
    fwd = emit(kind, "phi", _prepare(expr), symbols, False)
    if kind == "numpy":
        back = emit(kind, "dphi", derivative_expr(expr), symbols, False)
    else:
        back = emit(kind, "vjp", vjp_expr(expr), symbols, True)
    return fwd, back


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
    return sources(act.expr, act.symbols, backend)[which == "backward"]


def scalar_values(act: Activation, params: dict[str, Any]) -> list[float]:
    """The parameter values ``p0, p1, ...`` the generated functions take, as Python floats
    (``params`` override the activation's; ValueError unless each is a scalar)."""
    vals = act.resolve(params)
    if any(v.ndim for v in vals):
        raise ValueError("kernel parameters must be scalars (one value per parameter)")
    return [float(v) for v in vals]
