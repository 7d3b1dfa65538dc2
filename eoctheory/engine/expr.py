r"""A safe reader for activation expressions typed by a user (``--expr``, ``from_string``).

The text is parsed by Python's :mod:`ast` module (``mode="eval"``) and the SymPy expression
is built here, node by node, from a whitelist. Nothing the user types is ever evaluated as
Python: no attribute access, subscripts, strings, lambdas, comprehensions or keyword
arguments, and calls only to the functions in :data:`FUNCTIONS`, by bare name.

Allowed
    * numbers (``int`` and decimal literals; a decimal becomes the exact rational it
      spells, ``0.3 -> 3/10``, of at most 60 digits), the argument ``x``, parameter
      names, ``pi`` and ``E``;
    * ``+ - * / **`` and unary ``+ -``; an exponent must be a rational number ``p`` with
      ``|p| <= 8`` and denominator at most 8 (``x**2``, ``x**(1/2)``, ``(1 + x**2)**-1``);
    * calls to ``Piecewise``, ``Max``/``max``, ``Min``/``min``, ``Abs``/``abs``, ``sign``,
      ``Heaviside``, ``exp``, ``log``, ``sqrt``, ``erf``, ``erfc``, ``tanh``, ``sin``, ``cos``;
    * comparisons ``< <= > >=`` (chained, ``0 < x < 1``), ``&``, ``|``, ``~`` (and ``and``,
      ``or``, ``not``) and ``True`` only in the condition of a ``Piecewise`` branch
      ``(value, condition)``.

Whether the result is an activation the engine handles (continuous or with an exactly
treated jump, real, defined everywhere, not growing like :math:`e^{x^2}`) is checked by
:func:`eoctheory.engine.admissible.check_activation`, not here: ``log``, ``sqrt`` and
fractional or negative powers are read, and refused there wherever their argument can
reach zero or below.

Bounds, checked on the syntax tree before any SymPy object is made (so that ``9**9**9``,
``2**10**10`` or ``(x + 1)**2000`` cost nothing): at most :data:`MAX_LENGTH` characters,
:data:`MAX_NODES` syntax nodes, nesting depth :data:`MAX_DEPTH`; numbers zero or of
magnitude in ``[1e-12, 1e12]``; polynomial degree at most :data:`MAX_DEGREE`; at most
:data:`MAX_PIECES` pieces once every ``Max``/``Min``/``Abs``/``Piecewise`` is unfolded.

Every refusal is a one-line :class:`ValueError` that names the offending construct and
quotes at most 60 characters of the input.

Examples
--------
>>> from eoctheory.engine.expr import parse_activation, parameter_names
>>> parameter_names("Piecewise((0, x < tau), (x - tau, x < tau + m), (m, True))")
('tau', 'm')
>>> parse_activation("Max(0, x - 0.3)")
Max(0, x - 3/10)
>>> parse_activation("__import__('os').system('echo hi')")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unsafe or unsupported syntax in activation expression "__import__('os').system('echo hi')": attribute access ".system" is not allowed; allowed are numbers, x, ...
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

__all__ = [
    "X",
    "FUNCTIONS",
    "CONSTANTS",
    "RESERVED_NAMES",
    "MAX_LENGTH",
    "MAX_NODES",
    "MAX_DEPTH",
    "MAX_NUMBER",
    "MIN_NUMBER",
    "MAX_EXPONENT",
    "MAX_DEGREE",
    "MAX_PIECES",
    "MAX_BRANCHES",
    "parse_activation",
    "parameter_names",
    "check_parameter_name",
    "quote",
]

#: The activation's argument (real).
X = sp.Symbol("x", real=True)
#: Longest accepted input, in characters.
MAX_LENGTH = 2000
#: Most syntax-tree nodes.
MAX_NODES = 1000
#: Deepest syntax-tree nesting.
MAX_DEPTH = 100
#: Largest magnitude of a number (literal or folded constant).
MAX_NUMBER = 10**12
#: Smallest magnitude of a nonzero number literal.
MIN_NUMBER = Fraction(1, 10**12)
#: Largest ``|p|`` and largest denominator of an exponent ``p``.
MAX_EXPONENT = 8
#: Largest polynomial degree of any subexpression (``x**8``, ``(x + 1)**4 * x**4``).
MAX_DEGREE = 8
#: Most pieces once every Max, Min, Abs, sign, Heaviside and Piecewise is unfolded (an upper
#: bound: a sum of n ReLUs counts 2**n, as SymPy's ``piecewise_fold`` first builds them).
MAX_PIECES = 64
#: Most branches of one ``Piecewise``.
MAX_BRANCHES = 32
_MAX_NAME = 32
_QUOTE = 60
_CONST_DIGITS = 60  # folded exact constants keep numerator and denominator below 10**60

#: Functions a user may call, by the name they type.
FUNCTIONS: dict[str, Callable[..., sp.Basic]] = {
    "Piecewise": sp.Piecewise,
    "Max": sp.Max, "max": sp.Max,
    "Min": sp.Min, "min": sp.Min,
    "Abs": sp.Abs, "abs": sp.Abs,
    "sign": sp.sign,
    "Heaviside": sp.Heaviside,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "tanh": sp.tanh,
    "sin": sp.sin,
    "cos": sp.cos,
}
#: Named constants.
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}

_UNARY = {"Abs", "abs", "sign", "Heaviside", "exp", "log", "sqrt", "erf", "erfc", "tanh",
          "sin", "cos"}
_MAXMIN = {"Max", "max", "Min", "min"}

#: Names that cannot be parameters: SymPy spellings of constants (``I``, ``oo``, ``nan``),
#: names the code generated by ``lambdify`` uses (a parameter would shadow them), the
#: symbols of derived quantities (``q``, ``s``, ``sigma_w2``, ...), Python builtins and
#: keywords. Cse temporaries ``x0, x1, ...`` and names starting with ``_`` are refused too.
RESERVED_NAMES: frozenset[str] = frozenset(
    {"I", "oo", "zoo", "nan", "inf", "S", "N", "O", "Q", "e", "j",
     # lambdify's NumPy / mpmath code and eoctheory's compiled special functions
     "numpy", "np", "mpmath", "math", "scipy", "sympy", "sp", "select", "where",
     "logical_and", "logical_or", "logical_not", "less", "less_equal", "greater",
     "greater_equal", "equal", "not_equal", "maximum", "minimum", "amax", "amin", "reduce",
     "heaviside", "absolute", "mpf", "GaussPDF", "GaussCDF", "GaussMass", "erfcx",
     # symbols of derived quantities (maps, eoc, correlation, latex)
     "q", "r", "s", "u", "z", "mu", "sigma", "sigma_w2", "sigma_b2", "q_star", "rho",
     "sqrt_2pi"}
    | set(dir(builtins)) | set(keyword.kwlist)) - {"abs", "max", "min"}
_SPECIAL = {"I": "the imaginary unit", "j": "the imaginary unit", "oo": "infinity",
            "inf": "infinity", "zoo": "complex infinity", "nan": "undefined"}
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_CSE_RE = re.compile(r"x\d+\Z")

_ALLOWED = ("allowed are numbers, x, parameter names, pi, E, + - * / **, calls to "
            + ", ".join(n for n in FUNCTIONS if n not in ("max", "min", "abs"))
            + ", and comparisons with & | ~ only in Piecewise conditions")


def quote(text: str, limit: int = _QUOTE) -> str:
    """``text`` for an error message: at most ``limit`` characters, on one line."""
    t = text if len(text) <= limit else text[: limit - 3] + "..."
    r = repr(t)
    if r[0] == "'" and '"' not in t:  # prefer double quotes: expressions often hold ' and ()
        r = '"' + r[1:-1].replace("\\'", "'") + '"'
    return r


def check_parameter_name(name: str) -> str:
    """Return ``name`` if it can name a parameter, else raise a one-line ValueError.

    A parameter name is an ASCII identifier of at most 32 characters that starts with a
    letter and is neither ``x``, a function of :data:`FUNCTIONS`, a constant of
    :data:`CONSTANTS`, nor one of :data:`RESERVED_NAMES`.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > _MAX_NAME:
        raise ValueError(f"{quote(str(name), 40)} cannot name a parameter: use letters, digits "
                         f"and '_', starting with a letter, at most {_MAX_NAME} characters")
    if name == "x":
        raise ValueError("'x' is the activation's argument, not a parameter")
    if name in FUNCTIONS or name in CONSTANTS or name in RESERVED_NAMES or _CSE_RE.match(name):
        raise ValueError(f"name {name!r} is reserved (a function, constant, builtin or a "
                         "symbol eoctheory uses) and cannot be a parameter; choose another "
                         "name, e.g. 'k'")
    return name


class _Refused(ValueError):
    """Internal: carries the construct to name; turned into the one-line message."""


@dataclass
class _Val:
    """A built subexpression and the bounds known about it."""

    expr: sp.Basic | None  # None while ``const`` holds an exact rational not yet built
    const: Fraction | None = None  # exact rational value, if the subtree is one
    deg: float = 0.0  # polynomial degree bound in x
    pieces: int = 1  # pieces bound after unfolding Max/Min/Abs/Piecewise
    has_x: bool = False
    has_param: bool = False

    def sym(self) -> sp.Basic:
        if self.expr is None:
            c = self.const
            self.expr = sp.Rational(c.numerator, c.denominator)
        return self.expr


def _op_name(op: ast.AST) -> str:
    return {ast.FloorDiv: "'//'", ast.Mod: "'%'", ast.MatMult: "'@'", ast.LShift: "'<<'",
            ast.RShift: "'>>'", ast.BitXor: "'^' (write ** for powers)",
            ast.BitAnd: "'&'", ast.BitOr: "'|'", ast.Eq: "'=='", ast.NotEq: "'!='",
            ast.Is: "'is'", ast.IsNot: "'is not'", ast.In: "'in'", ast.NotIn: "'not in'",
            ast.Not: "'not'", ast.Invert: "'~'"}.get(type(op), type(op).__name__)


_CONSTRUCTS = {
    ast.Attribute: "attribute access", ast.Subscript: "subscript '[...]'",
    ast.Lambda: "lambda", ast.IfExp: "conditional expression 'a if c else b' (use Piecewise)",
    ast.ListComp: "comprehension", ast.SetComp: "comprehension", ast.DictComp: "comprehension",
    ast.GeneratorExp: "generator expression", ast.List: "list '[...]'", ast.Dict: "dict '{...}'",
    ast.Set: "set '{...}'", ast.JoinedStr: "f-string", ast.FormattedValue: "f-string",
    ast.Starred: "starred argument '*'", ast.NamedExpr: "assignment expression ':='",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slice",
}


class _Reader:
    """Builds the SymPy expression from a checked syntax tree."""

    def __init__(self, src: str, symbols: Mapping[str, sp.Symbol] | None) -> None:
        self.src = src
        self.symbols = symbols  # None: collect names only
        self.names: list[str] = []

    # --- helpers --------------------------------------------------------------------------
    @staticmethod
    def _bound(v: _Val, what: str) -> _Val:
        if v.deg > MAX_DEGREE:
            raise _Refused(f"@too complex: {what} has polynomial degree {v.deg:g} "
                           f"(at most {MAX_DEGREE})")
        if v.pieces > MAX_PIECES:
            raise _Refused(f"@too complex: {what} unfolds into up to {v.pieces} pieces "
                           f"(at most {MAX_PIECES})")
        c = v.const
        if c is not None:
            if abs(c) > MAX_NUMBER or (c and abs(c) < MIN_NUMBER):
                raise _Refused(f"@{what} is {float(c):.3g}; numbers must be 0 or of magnitude "
                               "between 1e-12 and 1e12")
            if abs(c.numerator) >= 10**_CONST_DIGITS or c.denominator >= 10**_CONST_DIGITS:
                raise _Refused(f"@too complex: a constant has more than {_CONST_DIGITS} "
                               "digits")
        return v

    @staticmethod
    def _real(v: _Val, what: str) -> _Val:
        """A constant SymPy evaluated to a complex or infinite number (sqrt(-1), log(0))."""
        if not (v.has_x or v.has_param) and v.expr.has(sp.I, sp.zoo, sp.nan, sp.oo):
            raise _Refused(f"@{what} is {quote(str(v.expr), 30)}, not a finite real number "
                           "(activations are real)")
        return v

    @staticmethod
    def _build(fn: Callable[..., sp.Basic], *args: sp.Basic) -> sp.Basic:
        try:
            return fn(*args)
        except Exception as exc:  # SymPy's own refusals (TypeError, ...): one line
            msg = str(exc).strip().splitlines()[0][:80] if str(exc).strip() else ""
            raise _Refused(f"@cannot build: {type(exc).__name__} {msg}".rstrip()) from None

    # --- dispatch -------------------------------------------------------------------------
    def value(self, node: ast.AST) -> _Val:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.UAdd, ast.USub)):
                v = self.value(node.operand)
                if isinstance(node.op, ast.UAdd):
                    return v
                if v.const is not None:
                    return _Val(None, -v.const)
                return _Val(self._build(sp.Mul, sp.S.NegativeOne, v.sym()), None, v.deg,
                            v.pieces, v.has_x, v.has_param)
            raise _Refused(f"operator {_op_name(node.op)} outside a Piecewise condition")
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            raise _Refused("a comparison or 'and'/'or' outside a Piecewise condition")
        if isinstance(node, ast.Tuple):
            raise _Refused("a tuple outside a Piecewise branch")
        raise _Refused(_CONSTRUCTS.get(type(node), f"syntax {type(node).__name__}")
                       + _detail(node))

    def _constant(self, node: ast.Constant) -> _Val:
        v = node.value
        if isinstance(v, bool):
            raise _Refused("True/False outside a Piecewise condition")
        if isinstance(v, int):
            if abs(v) > MAX_NUMBER:
                raise _Refused(f"@number too large: {quote(str(v), 20)} "
                               f"(magnitude at most 1e12)")
            return _Val(None, Fraction(v))
        if isinstance(v, float):
            if not math.isfinite(v) or abs(v) > MAX_NUMBER:
                raise _Refused(f"@number too large: {v!r} (magnitude at most 1e12)")
            text = ast.get_source_segment(self.src, node) or repr(v)
            try:  # the decimal the user wrote, exactly: 0.3 -> 3/10
                c = Fraction(text.replace("_", ""))
            except ValueError:  # pragma: no cover - a float literal always reads
                c = Fraction(repr(v))
            if c and abs(c) < MIN_NUMBER:
                raise _Refused(f"@number too small: {v!r} (zero or magnitude at least 1e-12)")
            return self._bound(_Val(None, c), "a number")
        if isinstance(v, complex):
            raise _Refused("complex literal " + quote(repr(v), 20)
                           + " (activations are real)")
        if isinstance(v, (str, bytes)):
            raise _Refused(f"string literal {quote(repr(v), 30)}")
        raise _Refused(f"literal {quote(repr(v), 20)}")

    def _name(self, node: ast.Name) -> _Val:
        name = node.id
        if name == "x":
            sym = self.symbols.get("x", X) if self.symbols is not None else X
            return _Val(sym, deg=1.0, has_x=True)
        if name in CONSTANTS:
            return _Val(CONSTANTS[name])
        if name in FUNCTIONS:
            raise _Refused(f"function name {name!r} without a call (write e.g. {name}(x))")
        if not _NAME_RE.match(name) or len(name) > _MAX_NAME:
            raise _Refused(f"name {quote(name, 30)}")
        try:
            check_parameter_name(name)
        except ValueError as exc:
            if name in _SPECIAL:
                raise _Refused(f"@name {name!r} means {_SPECIAL[name]} in SymPy: activations "
                               "are real and finite") from None
            raise _Refused(f"@{exc}") from None
        if name not in self.names:
            self.names.append(name)
        if self.symbols is None:
            return _Val(sp.Symbol(name, real=True), has_param=True)
        if name not in self.symbols:
            raise _Refused(f"@undeclared parameter {name!r}: give it a value, e.g. "
                           f"params={{{name!r}: 0.5}} (command line: --param {name}=0.5)")
        return _Val(self.symbols[name], has_param=True)

    def _binop(self, node: ast.BinOp) -> _Val:
        op = node.op
        if isinstance(op, ast.Pow):
            return self._pow(node)
        if not isinstance(op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            raise _Refused(f"operator {_op_name(op)}")
        a, b = self.value(node.left), self.value(node.right)
        if isinstance(op, ast.Div) and b.const is not None and b.const == 0:
            raise _Refused("@division by zero")
        if a.const is not None and b.const is not None:
            c = {ast.Add: a.const + b.const, ast.Sub: a.const - b.const,
                 ast.Mult: a.const * b.const}.get(type(op))
            return self._bound(_Val(None, c if c is not None else a.const / b.const),
                               "a constant")
        deg = a.deg + b.deg if isinstance(op, ast.Mult) else max(a.deg, b.deg)
        out = _Val(None, None, deg, a.pieces * b.pieces, a.has_x or b.has_x,
                   a.has_param or b.has_param)
        self._bound(out, _segment_name(op))
        x, y = a.sym(), b.sym()
        if isinstance(op, ast.Add):
            out.expr = self._build(sp.Add, x, y)
        elif isinstance(op, ast.Sub):
            out.expr = self._build(sp.Add, x, self._build(sp.Mul, sp.S.NegativeOne, y))
        elif isinstance(op, ast.Mult):
            out.expr = self._build(sp.Mul, x, y)
        else:
            out.expr = self._build(sp.Mul, x, self._build(sp.Pow, y, sp.S.NegativeOne))
        return out

    def _pow(self, node: ast.BinOp) -> _Val:
        p = self.value(node.right)
        if p.const is None:
            if p.has_x:
                raise _Refused("@a non-constant exponent (only numbers; write exp(x*log(2)) "
                               "for 2**x)")
            if p.has_param:
                raise _Refused("@an exponent with a parameter (exponents must be numbers)")
            raise _Refused("@an irrational exponent (exponents must be rational numbers)")
        e = p.const
        if abs(e) > MAX_EXPONENT or e.denominator > MAX_EXPONENT:
            raise _Refused(f"@exponent {_frac(e)} too large (an integer or fraction p/q with "
                           f"|p/q| <= {MAX_EXPONENT} and q <= {MAX_EXPONENT})")
        b = self.value(node.left)
        if b.const is not None:
            if b.const == 0 and e < 0:
                raise _Refused("@division by zero (0 to a negative power)")
            if e.denominator == 1:
                return self._bound(_Val(None, b.const ** int(e)), "a constant")
            if b.const < 0:
                raise _Refused(f"@a complex value: {_frac(b.const)}**{_frac(e)} "
                               "(activations are real)")
        out = _Val(None, None, b.deg * abs(float(e)), b.pieces, b.has_x, b.has_param)
        self._bound(out, "a power")
        out.expr = self._build(sp.Pow, b.sym(), sp.Rational(e.numerator, e.denominator))
        return self._real(out, "a power")

    def _call(self, node: ast.Call) -> _Val:
        f = node.func
        if isinstance(f, ast.Attribute):
            raise _Refused("attribute access" + _detail(f))
        if not isinstance(f, ast.Name):
            raise _Refused("a call of something other than a function name")
        name = f.id
        if name not in FUNCTIONS:
            raise _Refused(f"function {quote(name, 30)}")
        if node.keywords:
            raise _Refused(f"keyword arguments in {name}(...)")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise _Refused(f"starred argument '*' in {name}(...)")
        if name == "Piecewise":
            return self._piecewise(node)
        n = len(node.args)
        if name in _UNARY and n != 1:
            raise _Refused(f"@{name} takes 1 argument (got {n})")
        if name in _MAXMIN and not 2 <= n <= 8:
            raise _Refused(f"@{name} takes 2 to 8 arguments (got {n})")
        args = [self.value(a) for a in node.args]
        has_x = any(a.has_x for a in args)
        has_p = any(a.has_param for a in args)
        pieces = math.prod(a.pieces for a in args)
        if name in _MAXMIN:
            deg, pieces = max(a.deg for a in args), n * pieces
        elif name in ("Abs", "abs"):
            deg, pieces = args[0].deg, 2 * pieces
        elif name in ("sign", "Heaviside"):
            deg, pieces = 0.0, 3 * pieces
        elif name == "sqrt":
            deg = args[0].deg / 2
        else:
            deg = 0.0
        out = _Val(None, None, deg, pieces, has_x, has_p)
        self._bound(out, f"{name}(...)")
        out.expr = self._build(FUNCTIONS[name], *[a.sym() for a in args])
        return self._real(out, f"{name}(...)")

    def _piecewise(self, node: ast.Call) -> _Val:
        n = len(node.args)
        if not 1 <= n <= MAX_BRANCHES:
            raise _Refused(f"@Piecewise takes 1 to {MAX_BRANCHES} branches (got {n})")
        pairs, pieces, deg, has_x, has_p = [], 0, 0.0, False, False
        for br in node.args:
            if not (isinstance(br, ast.Tuple) and len(br.elts) == 2):
                raise _Refused("@a Piecewise branch that is not a pair (value, condition)")
            v = self.value(br.elts[0])
            c = self.condition(br.elts[1])
            pieces += v.pieces * c.pieces
            deg = max(deg, v.deg)
            has_x = has_x or v.has_x or c.has_x
            has_p = has_p or v.has_param or c.has_param
            pairs.append((v.sym(), c.sym()))
        out = _Val(None, None, deg, pieces, has_x, has_p)
        self._bound(out, "Piecewise(...)")
        out.expr = self._build(sp.Piecewise, *pairs)
        return out

    def condition(self, node: ast.AST) -> _Val:
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return _Val(sp.true if node.value else sp.false)
        if isinstance(node, ast.Compare):
            rels, vals = [], [self.value(node.left)]
            for op, right in zip(node.ops, node.comparators):
                if not isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
                    raise _Refused(f"comparison {_op_name(op)} (conditions use < <= > >=)")
                vals.append(self.value(right))
                rel = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}[type(op)]
                rels.append(self._build(rel, vals[-2].sym(), vals[-1].sym()))
            return self._join(sp.And, rels, vals)
        if isinstance(node, ast.BoolOp) or (isinstance(node, ast.BinOp)
                                            and isinstance(node.op, (ast.BitAnd, ast.BitOr))):
            parts = node.values if isinstance(node, ast.BoolOp) else [node.left, node.right]
            vals = [self.condition(p) for p in parts]
            fn = sp.And if isinstance(getattr(node, "op", None), (ast.And, ast.BitAnd)) else sp.Or
            return self._join(fn, [v.sym() for v in vals], vals)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert)):
            v = self.condition(node.operand)
            return _Val(self._build(sp.Not, v.sym()), pieces=v.pieces, has_x=v.has_x,
                        has_param=v.has_param)
        if isinstance(node, (ast.Constant, ast.Name, ast.BinOp, ast.Call, ast.UnaryOp)):
            raise _Refused("@a Piecewise condition that is not a comparison (write e.g. "
                           "(x - 1, x < 2) or (0, True))")
        return self.value(node)  # refuses the construct with its own message

    def _join(self, fn: Callable[..., sp.Basic], parts: list, vals: list[_Val]) -> _Val:
        out = _Val(None, None, max(v.deg for v in vals), math.prod(v.pieces for v in vals),
                   any(v.has_x for v in vals), any(v.has_param for v in vals))
        self._bound(out, "a condition")
        out.expr = parts[0] if len(parts) == 1 else self._build(fn, *parts)
        return out


def _frac(c: Fraction) -> str:
    return str(c) if len(str(c)) <= 20 else f"{float(c):.3g}"


def _segment_name(op: ast.AST) -> str:
    return {ast.Add: "a sum", ast.Sub: "a difference", ast.Mult: "a product",
            ast.Div: "a quotient"}.get(type(op), "an operation")


def _detail(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f" {quote('.' + node.attr, 30)}"
    return ""


def _parse_tree(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise ValueError(f"the activation expression must be a string, got "
                         f"{type(text).__name__}")
    src = text.strip()
    if not src:
        raise ValueError("the activation expression is empty; write phi(x), e.g. "
                         "'Piecewise((0, x < 0.3), (x - 0.3, True))'")
    if len(src) > MAX_LENGTH:
        raise ValueError(f"activation expression {quote(src)} is too long ({len(src)} "
                         f"characters; at most {MAX_LENGTH})")
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for 'x is 1': stay on one line
            warnings.simplefilter("ignore")
            tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        what = (exc.msg or "invalid syntax").splitlines()[0][:80]
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ValueError(f"cannot parse activation expression {quote(src)}: "
                         f"{what}{where}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ValueError(f"cannot parse activation expression {quote(src)}: too deeply "
                         "nested") from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ValueError(f"activation expression {quote(src)} is too complex: more than "
                             f"{MAX_NODES} syntax nodes")
        if depth > MAX_DEPTH:
            raise ValueError(f"activation expression {quote(src)} is too deeply nested "
                             f"(depth at most {MAX_DEPTH})")
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.expr_context, ast.operator, ast.unaryop,
                                      ast.cmpop, ast.boolop)):
                stack.append((child, depth + 1))
    return tree


def _read(text: str, symbols: Mapping[str, sp.Symbol] | None) -> tuple[sp.Expr, list[str]]:
    tree = _parse_tree(text)
    src = text.strip()
    reader = _Reader(src, symbols)
    try:
        out = reader.value(tree.body)
        expr = out.sym()
    except _Refused as exc:
        what = str(exc)
        if what.startswith("@"):
            raise ValueError(f"activation expression {quote(src)}: {what[1:]}") from None
        raise ValueError(f"unsafe or unsupported syntax in activation expression "
                         f"{quote(src)}: {what} is not allowed; {_ALLOWED}") from None
    return expr, reader.names


def parameter_names(text: str) -> tuple[str, ...]:
    """The parameter names in ``text``, in order of first appearance.

    A parameter is any bare name other than ``x``, a function of :data:`FUNCTIONS` and a
    constant of :data:`CONSTANTS`; names are read from the syntax tree, never by substring
    (``gamma`` does not contain the parameter ``m``). The whole text is checked as by
    :func:`parse_activation`.

    Raises
    ------
    ValueError
        One line naming the construct, if the text is not a safe activation expression.
    """
    return tuple(_read(text, None)[1])


def parse_activation(text: str,
                     symbols: Mapping[str, sp.Symbol] | Iterable[str] | None = None) -> sp.Expr:
    r"""Build the SymPy expression :math:`\phi(x)` that ``text`` spells, without evaluating it.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"Piecewise((0, x < tau), (x - tau, True))"``.
    symbols : mapping or iterable of str, optional
        Parameter name -> SymPy symbol to use for it (``"x"`` may map to the argument's
        symbol; by default ``Symbol("x", real=True)``), or just the parameter names (real
        symbols are made). ``None``: every parameter name becomes a real symbol.

    Returns
    -------
    sympy.Expr
        Decimals are exact rationals (``0.3 -> 3/10``).

    Raises
    ------
    ValueError
        One line naming the offending construct or bound, or a parameter that ``symbols``
        does not declare.

    Examples
    --------
    >>> import sympy as sp
    >>> tau = sp.Symbol("tau", nonnegative=True)
    >>> parse_activation("Piecewise((0, x < tau), (x - tau, True))", {"tau": tau})
    Piecewise((0, tau > x), (-tau + x, True))
    >>> parse_activation("(x + 1)**2000")
    Traceback (most recent call last):
    ...
    ValueError: activation expression "(x + 1)**2000": exponent 2000 too large (an integer or fraction p/q with |p/q| <= 8 and q <= 8)
    """
    if symbols is not None and not isinstance(symbols, Mapping):
        symbols = {n: sp.Symbol(check_parameter_name(n), real=True) for n in symbols}
    return _read(text, symbols)[0]
