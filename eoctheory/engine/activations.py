r"""Activations as data: a name, a SymPy expression in ``x``, its parameters and their values.

The four sparsifying activations of the paper (Section 2-3, eqs. 7-10) with threshold
:math:`\tau \ge 0` and clipping height :math:`m > 0`:

.. math::

    \mathrm{ReLU}_\tau(x) &= \max(0, x-\tau) \\
    \mathrm{ST}_\tau(x) &= \operatorname{sign}(x)\max(0, |x|-\tau) \\
    \mathrm{CReLU}_{\tau,m}(x) &= \min(m, \max(0, x-\tau)) \\
    \mathrm{CST}_{\tau,m}(x) &= \operatorname{sign}(x)\min(m, \max(0, |x|-\tau))

plus plain ReLU, the identity, hard-tanh and the smooth tanh, erf, GELU and SiLU. A new
activation is one call away: :meth:`Activation.from_expr` (a SymPy expression, Piecewise
allowed), :meth:`Activation.from_string` (text read by the safe reader
:mod:`eoctheory.engine.expr`, never evaluated as Python), or :meth:`Activation.from_callable`
(a NumPy function; numeric route only).

What the engine can handle is checked when an activation is made from an expression
(:mod:`eoctheory.engine.admissible`): a real, finite function of ``x``,
defined everywhere, growing at most like :math:`e^{c|x|}`; continuous, except for jumps of a
piecewise polynomial with conditions linear in ``x``, which the exact route sees (it
reports :math:`\chi_1 = \infty`). Everything else is refused with a one-line ValueError.

Examples
--------
>>> from eoctheory import get_activation, Activation
>>> crelu = get_activation("crelu", tau=0.5, m=1.0)
>>> crelu.values
{'tau': 0.5, 'm': 1.0}
>>> float(crelu(2.0))
1.0
>>> user = Activation.from_string("Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))")
>>> float(user(0.5))
0.4
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from eoctheory.engine.admissible import check_activation, check_expression
from eoctheory.engine.expr import X, check_parameter_name, parameter_names, parse_activation

__all__ = [
    "Activation",
    "Parameter",
    "X",
    "TAU",
    "M",
    "BETA",
    "CATALOGUE",
    "DEFAULT_VALUES",
    "PAPER_ACTIVATIONS",
    "derivative_expr",
    "get_activation",
    "list_activations",
]

#: Threshold (``tau >= 0``).
TAU = sp.Symbol("tau", nonnegative=True)
#: Clipping height (``m > 0``).
M = sp.Symbol("m", positive=True)


@dataclass(frozen=True)
class Parameter:
    """A symbolic parameter of an activation and its allowed range ``(lower, upper)``.

    ``lower_open`` makes the lower bound strict (``m > 0``); bounds may be infinite.
    """

    name: str
    symbol: sp.Symbol
    lower: float = -math.inf
    upper: float = math.inf
    lower_open: bool = False
    description: str = ""

    def allowed(self) -> str:
        lo = "" if self.lower == -math.inf else f"{self.name} {'>' if self.lower_open else '>='} {self.lower:g}"
        hi = "" if self.upper == math.inf else f"{self.name} <= {self.upper:g}"
        return " and ".join(s for s in (lo, hi) if s) or "any finite real number"

    def check(self, value: Any) -> np.ndarray:
        """Return ``value`` as a float array, or raise ValueError naming the parameter."""
        arr = np.asarray(value, dtype=float)
        bad = ~np.isfinite(arr)
        if self.lower > -math.inf:
            bad |= (arr <= self.lower) if self.lower_open else (arr < self.lower)
        if self.upper < math.inf:
            bad |= arr > self.upper
        if bad.any():
            first = arr[bad].flat[0] if arr.ndim else float(arr)
            raise ValueError(f"parameter {self.name} must satisfy {self.allowed()} "
                             f"(got {first!r})")
        return arr


_TAU_P = Parameter("tau", TAU, lower=0.0, description="threshold")
_M_P = Parameter("m", M, lower=0.0, lower_open=True, description="clipping height")
#: Sharpness of the clipping corner of SCReLU and SCST (dimensionless, ``1e-3 <= beta <= 1e3``;
#: the corner is rounded over a width ``m / beta``).
BETA = sp.Symbol("beta", positive=True)
_BETA_P = Parameter("beta", BETA, lower=1e-3, upper=1e3,
                    description="sharpness of the clipping corner")


#: Values of tau and m when an expression uses them and the caller gives none.
DEFAULT_VALUES: dict[str, float] = {"tau": 0.0, "m": 1.0}


@dataclass(frozen=True, eq=False)
class Activation:
    r"""An activation function :math:`\phi` with symbolic parameters and their values.

    Parameters
    ----------
    name : str
        Short name (the catalogue key, or a user's name).
    expr : sympy.Expr or None
        :math:`\phi(x)` in the symbol :data:`X` and the parameters' symbols. ``None`` for a
        numeric-only activation made from a callable.
    params : tuple of Parameter
        The symbolic parameters, in a fixed order.
    values : mapping
        The parameter values used when none are passed explicitly.
    label : str
        LaTeX label, e.g. ``r"\mathrm{CReLU}_{\tau,m}"``.
    func, dfunc : callable, optional
        NumPy implementations of :math:`\phi` and :math:`\phi'` for numeric-only activations.
    description : str
        One line for listings.
    """

    name: str
    expr: sp.Expr | None
    params: tuple[Parameter, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)
    label: str = ""
    func: Callable[[np.ndarray], np.ndarray] | None = None
    dfunc: Callable[[np.ndarray], np.ndarray] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        vals = dict(self.values)
        unknown = set(vals) - set(names)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for activation "
                             f"{self.name!r}; its parameters are {names}")
        missing = set(names) - set(vals)
        if missing:
            raise ValueError(f"activation {self.name!r} needs values for {sorted(missing)}")
        for p in self.params:
            vals[p.name] = float(p.check(vals[p.name]))
        object.__setattr__(self, "values", {n: vals[n] for n in names})
        if not self.label:
            object.__setattr__(self, "label", r"\mathrm{%s}" % self.name.replace("_", r"\_"))
        if self.expr is not None:
            allowed = {X} | {p.symbol for p in self.params}
            extra = self.expr.free_symbols - allowed
            if extra:
                raise ValueError(
                    f"expression for {self.name!r} uses symbol(s) "
                    f"{sorted(str(s) for s in extra)}; allowed are x and the declared "
                    f"parameters {names}")
            check_expression(self.expr, self.name)
        elif self.func is None:
            raise ValueError("an Activation needs an expression or a callable")

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_expr(cls, expr: sp.Expr | str, name: str = "custom",
                  params: Mapping[str, float] | None = None,
                  bounds: Mapping[str, tuple[float, float]] | None = None,
                  label: str = "", *, allow_jumps: bool = True) -> Activation:
        r"""Make an activation from a SymPy expression (or a string) in ``x``, and check it.

        Parameters
        ----------
        expr : sympy.Expr or str
            :math:`\phi(x)`. A string is read by :func:`eoctheory.engine.expr.parse_activation`
            (a whitelist: numbers, ``x``, parameters, ``pi``, ``E``, ``+ - * / **`` and
            ``Piecewise``, ``Max``, ``Min``, ``Abs``, ``sign``, ``Heaviside``, ``exp``, ``log``,
            ``sqrt``, ``erf``, ``erfc``, ``tanh``, ``sin``, ``cos``); it is never evaluated as
            Python. A SymPy expression may use the same functions.
        name, label : str
            Short name and LaTeX label.
        params : mapping, optional
            Parameter name -> value. Every name in the expression other than ``x`` (and the
            functions and constants) is a parameter; ``tau`` and ``m`` get their usual ranges
            (``tau >= 0``, ``m > 0``) and, if not given, the values
            :data:`DEFAULT_VALUES` (0 and 1); every other parameter needs a value here.
            Names given here but absent from the expression are declared anyway.
        bounds : mapping, optional
            Parameter name -> (lower, upper) allowed values (inclusive).
        allow_jumps : bool
            ``True`` (default): a jump is accepted where the exact piecewise-polynomial route
            handles it (:math:`\chi_1 = \infty` is then reported); ``False`` refuses every
            discontinuous activation.

        Raises
        ------
        ValueError
            One line: unsafe or unsupported syntax, a parameter without a value, or an
            activation the engine cannot handle (see
            :func:`~eoctheory.engine.admissible.check_activation`).

        Notes
        -----
        Decimal numbers are made exact rationals (``0.3`` -> ``3/10``) so that derived
        closed forms cancel exactly.

        Examples
        --------
        >>> Activation.from_expr("Max(0, x - k)", params={"k": 0.25}).values
        {'k': 0.25}
        >>> Activation.from_expr("Max(0, x - k)")
        Traceback (most recent call last):
        ...
        ValueError: activation expression uses symbol(s) ['k'] with no value: give each a value, e.g. params={'k': 0.5} (command line: --param k=0.5); tau and m default to 0 and 1
        """
        params = dict(params or {})
        bounds = dict(bounds or {})
        for pname in params:
            check_parameter_name(pname)
        if isinstance(expr, (int, float)) and not isinstance(expr, bool):  # a constant
            expr = sp.Integer(expr) if isinstance(expr, int) else sp.Float(expr)
        if isinstance(expr, str):
            found = parameter_names(expr)
        elif isinstance(expr, sp.Basic):
            check_expression(expr, name)
            found = tuple(sorted(str(s) for s in expr.free_symbols if str(s) != "x"))
            for pname in found:
                check_parameter_name(pname)
        else:
            raise ValueError(f"cannot use a {type(expr).__name__} as an activation: give a "
                             "string or a SymPy expression in x")
        missing = [n for n in found if n not in params and n not in DEFAULT_VALUES]
        if missing:
            raise ValueError(
                f"activation expression uses symbol(s) {missing} with no value: give each a "
                f"value, e.g. params={{{missing[0]!r}: 0.5}} (command line: --param "
                f"{missing[0]}=0.5); tau and m default to 0 and 1")
        for pname in found:
            params.setdefault(pname, DEFAULT_VALUES.get(pname))
        plist: list[Parameter] = []
        for pname in params:
            if pname == "tau" and "tau" not in bounds:
                plist.append(_TAU_P)
            elif pname == "m" and "m" not in bounds:
                plist.append(_M_P)
            else:
                lo, hi = bounds.get(pname, (-math.inf, math.inf))
                assumptions = {"real": True}
                if lo >= 0:
                    assumptions = {"nonnegative": True}
                    if lo > 0:
                        assumptions = {"positive": True}
                plist.append(Parameter(pname, sp.Symbol(pname, **assumptions), lo, hi))
        ptuple = tuple(plist)
        by_name = {"x": X, **{p.name: p.symbol for p in ptuple}}
        if isinstance(expr, str):
            expr = parse_activation(expr, by_name)
        else:  # our symbols, by name (a user's may carry other assumptions)
            expr = expr.xreplace({s: by_name[str(s)] for s in expr.free_symbols
                                  if str(s) in by_name})
            if expr.has(sp.Float):
                expr = sp.nsimplify(expr, rational=True)
        if not isinstance(expr, sp.Expr):
            raise ValueError(f"the activation must be an expression in x, got "
                             f"{type(expr).__name__}")
        act = cls(name, expr, ptuple, params, label=label)
        check_activation(act, allow_jumps=allow_jumps)
        return act

    @classmethod
    def from_string(cls, text: str, name: str = "custom",
                    params: Mapping[str, float] | None = None, **kw: Any) -> Activation:
        """Read ``text`` with the safe reader and check it (see :meth:`from_expr`).

        ``tau`` and ``m`` are recognised in the text and default to 0 and 1, e.g.
        ``Activation.from_string("Piecewise((0, x < tau), (x - tau, True))")``.
        """
        if not isinstance(text, str):
            raise ValueError(f"from_string needs a str, got {type(text).__name__}")
        return cls.from_expr(text, name=name, params=params, **kw)

    @classmethod
    def from_callable(cls, func: Callable[[np.ndarray], np.ndarray], name: str = "callable",
                      derivative: Callable[[np.ndarray], np.ndarray] | None = None,
                      label: str = "") -> Activation:
        r"""A numeric-only activation from a vectorised NumPy function.

        Everything goes through quadrature; :math:`\phi'` is taken from ``derivative`` or,
        if absent, from a fourth-order central difference.
        """
        if not callable(func):
            raise ValueError("func must be callable")
        return cls(name, None, (), {}, label=label, func=func, dfunc=derivative)

    def with_values(self, **values: float) -> Activation:
        """A copy with some parameter values replaced (same expression, same derivation)."""
        return Activation(self.name, self.expr, self.params, {**self.values, **values},
                          self.label, self.func, self.dfunc, self.description)

    # --- evaluation ---------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(p.symbol for p in self.params)

    @property
    def is_symbolic(self) -> bool:
        return self.expr is not None

    def resolve(self, given: Mapping[str, Any]) -> list[np.ndarray]:
        """Parameter arrays in declared order: ``given`` overrides :attr:`values`; checked."""
        unknown = set(given) - set(self.param_names)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for activation "
                             f"{self.name!r}; its parameters are {list(self.param_names)}")
        return [p.check(given.get(p.name, self.values[p.name])) for p in self.params]

    @cached_property
    def _numpy_fns(self) -> tuple[Callable, Callable]:
        from eoctheory.engine.gaussian import NUMPY_FUNCTIONS

        if self.expr is None:
            return self.func, self.dfunc  # type: ignore[return-value]
        args = (X, *self.symbols)
        mods = [NUMPY_FUNCTIONS, "numpy"]
        f = sp.lambdify(args, self.expr, modules=mods)
        df = sp.lambdify(args, derivative_expr(self.expr), modules=mods)
        return f, df

    def __call__(self, x: Any, **params: float) -> np.ndarray:
        r""":math:`\phi(x)` as a NumPy array (parameters default to :attr:`values`)."""
        x = np.asarray(x, dtype=float)
        f = self._numpy_fns[0]
        if self.expr is None:
            return np.asarray(f(x), dtype=float)
        vals = self.resolve(params)
        with np.errstate(all="ignore"):  # numpy.select evaluates every branch, used or not
            return _full(f(x, *vals), x, vals)

    def derivative(self, x: Any, **params: float) -> np.ndarray:
        r""":math:`\phi'(x)` (zero derivative chosen at kinks of piecewise activations)."""
        x = np.asarray(x, dtype=float)
        df = self._numpy_fns[1]
        if self.expr is None:
            if df is not None:
                return np.asarray(df(x), dtype=float)
            h = 1e-3 * np.maximum(1.0, np.abs(x))
            f = self.func
            return (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h)
        vals = self.resolve(params)
        with np.errstate(all="ignore"):
            return _full(df(x, *vals), x, vals)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        text = str(self.expr)
        text = text if len(text) <= 100 else text[:97] + "..."  # one line, not a dump
        body = f"expr={text}" if self.expr is not None else "callable"
        return f"Activation({self.name!r}, {body}{', ' + vals if vals else ''})"

    def _repr_latex_(self) -> str:
        r"""Jupyter: :math:`\phi(x) = \dots` and the parameter values, printed by
        :func:`eoctheory.latex.latex_equation` (a callable shows its label only)."""
        from eoctheory.latex.printer import PaperLatexPrinter
        from eoctheory.latex.quantities import latex_equation

        try:
            tex = latex_equation(self, "definition")
        except ValueError:  # a NumPy callable: no formula to print
            return f"${self.label}(x)$"
        printer = PaperLatexPrinter()
        vals = [f"{printer.doprint(p.symbol)} = {self.values[p.name]:.6g}" for p in self.params]
        return "$$" + r" \qquad ".join([tex, r",\; ".join(vals)] if vals else [tex]) + "$$"


def _full(out: Any, x: np.ndarray, vals: list[np.ndarray]) -> np.ndarray:
    """lambdify returns a scalar for constant pieces: broadcast to the inputs' shape."""
    shape = np.broadcast_shapes(x.shape, *(v.shape for v in vals))
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def derivative_expr(expr: sp.Expr) -> sp.Expr:
    r""":math:`\phi'(x) = \frac{d}{dx}\operatorname{Piecewise}[\phi](x)`, branch by branch.

    At a kink the branch whose condition holds gives the value: for
    :math:`\mathrm{CReLU}_{\tau,m}` = ``Piecewise((0, x <= tau), (x - tau, x < tau + m),
    (m, True))`` this is ``Piecewise((0, x <= tau), (1, x < tau + m), (0, True))``, i.e.
    :math:`\phi'(\tau) = \phi'(\tau+m) = 0`. The one derivative used by the activation,
    the mpmath oracle and the generated kernels.
    """
    from eoctheory.engine.gaussian import to_piecewise

    return sp.piecewise_fold(sp.diff(to_piecewise(expr), X))


def _pw(*branches):
    return sp.Piecewise(*branches)


def _smooth_clip(x: sp.Symbol, lower: int) -> sp.Piecewise:
    r"""SCReLU (``lower = 1``) or SCST (``lower = -1``): the clipping corner made smooth.

    With the softplus :math:`\mathrm{sp}_\beta(y) = \log(1 + e^{\beta y})/\beta =
    \max(y, 0) + L_\beta(|y|)`, :math:`L_\beta(y) = \log(1 + e^{-\beta y})/\beta`, and
    :math:`v = (|x| - \tau)/m` (the distance past the threshold in units of :math:`m`),

    .. math::

        \mathrm{SCReLU}_{\tau,m,\beta}(x) = \begin{cases} 0 & x \le \tau \\
        m\,[\mathrm{sp}_\beta(1) - \mathrm{sp}_\beta(1 - v)] & x > \tau \end{cases}
        = \begin{cases} 0 & v \le 0 \\ m\,[v + L_\beta(1) - L_\beta(1 - v)] & 0 < v < 1
        \\ m\,[1 + L_\beta(1) - L_\beta(v - 1)] & v \ge 1, \end{cases}

    and :math:`\mathrm{SCST}_{\tau,m,\beta}(x) = \operatorname{sign}(x)\,
    \mathrm{SCReLU}_{\tau,m,\beta}(|x|)`. :math:`\beta` is dimensionless: the corner at
    :math:`\tau + m` is rounded over a width :math:`m/\beta`, so
    :math:`\phi(cx; c\tau, cm, \beta) = c\,\phi(x; \tau, m, \beta)` as for CReLU, and what
    :math:`\beta` does is the same at every :math:`q^*`. Exact zeros on :math:`x \le \tau`
    (SCST: :math:`|x| \le \tau`), so the sparsity is that of CReLU (CST) with the same
    :math:`\tau`. Continuous at :math:`\tau` (the value there is 0; the slope jumps from 0 to
    :math:`\sigma(\beta)`, as CReLU's jumps from 0 to 1) and infinitely differentiable on
    :math:`x > \tau`, where :math:`\phi' = \sigma(\beta(1 - v))`, :math:`\sigma` the
    logistic function; the branches at :math:`v = 1` are one analytic function, written
    apart so that no exponential overflows. As :math:`\beta \to \infty`,
    :math:`L_\beta \to 0` and :math:`\phi \to \min(m, \max(0, x - \tau))` = CReLU (CST),
    with :math:`\sup|\phi - \mathrm{CReLU}| \le m \log 2/\beta`; the plateau is
    :math:`m\,(1 + L_\beta(1))`.

    Accuracy: the maps integrate by the piecewise quadrature route, split at :math:`\tau`
    and :math:`\tau + m`. Against an mpmath oracle (tests/theory/test_smooth.py) they are
    within 1e-10 relative while the corner's width in units of the pre-activation's
    standard deviation, :math:`m/(\beta\sqrt q)`, is at least about 0.01 (measured
    1e-14 at :math:`\beta \le 30`, :math:`m = 1`, :math:`q \in [0.3, 20]`); narrower
    corners lose digits (1e-6 in :math:`\chi_1` at :math:`m/(\beta\sqrt q) = 10^{-3}`),
    which is why :math:`\beta \le 10^3`: beyond, use CReLU / CST themselves (they differ
    by :math:`O(1/\beta)`).
    """
    tau, m, b = TAU, M, BETA

    def ell(y):
        return sp.log(1 + sp.exp(-b * y)) / b

    def g(v):
        return (m * (v + ell(1) - ell(1 - v)), m * (1 + ell(1) - ell(v - 1)))

    up, neg = g((x - tau) / m), g((-x - tau) / m)
    branches = [(up[0], x < tau + m), (up[1], True)]
    if lower == 1:
        return _pw((0, x <= tau), *branches)
    return _pw((-neg[1], x <= -tau - m), (-neg[0], x < -tau), (0, x <= tau), *branches)


def _builtin() -> dict[str, Activation]:
    x, tau, m = X, TAU, M
    tp, mp_ = (_TAU_P,), (_TAU_P, _M_P)
    mpb = (_TAU_P, _M_P, _BETA_P)
    acts = [
        Activation("relu", _pw((0, x <= tau), (x - tau, True)), tp, {"tau": 0.0},
                   r"\mathrm{ReLU}_{\tau}", description="ReLU_tau(x) = max(0, x - tau) (eq. 7)"),
        Activation("st", _pw((x + tau, x < -tau), (0, x <= tau), (x - tau, True)), tp,
                   {"tau": 0.0}, r"\mathrm{ST}_{\tau}",
                   description="soft thresholding ST_tau (eq. 8)"),
        Activation("crelu", _pw((0, x <= tau), (x - tau, x < tau + m), (m, True)), mp_,
                   {"tau": 0.0, "m": 1.0}, r"\mathrm{CReLU}_{\tau,m}",
                   description="clipped ReLU_tau, CReLU_{tau,m} (eq. 9)"),
        Activation("cst", _pw((-m, x <= -tau - m), (x + tau, x < -tau), (0, x <= tau),
                              (x - tau, x < tau + m), (m, True)), mp_,
                   {"tau": 0.0, "m": 1.0}, r"\mathrm{CST}_{\tau,m}",
                   description="clipped soft thresholding CST_{tau,m} (eq. 10)"),
        Activation("screlu", _smooth_clip(x, 1), mpb, {"tau": 0.0, "m": 1.0, "beta": 10.0},
                   r"\mathrm{SCReLU}_{\tau,m,\beta}",
                   description="smooth clipped ReLU_tau: the corner at tau + m softened by "
                               "softplus_beta (exact zeros below tau)"),
        Activation("scst", _smooth_clip(x, -1), mpb, {"tau": 0.0, "m": 1.0, "beta": 10.0},
                   r"\mathrm{SCST}_{\tau,m,\beta}",
                   description="smooth clipped soft thresholding: the corners at "
                               "+-(tau + m) softened by softplus_beta (exact zeros on |x| <= tau)"),
        Activation("plain_relu", sp.Max(0, x), (), {}, r"\mathrm{ReLU}",
                   description="ReLU(x) = max(0, x)"),
        Activation("identity", x, (), {}, r"\mathrm{id}", description="phi(x) = x"),
        Activation("hardtanh", sp.Max(-1, sp.Min(1, x)), (), {}, r"\mathrm{HardTanh}",
                   description="HardTanh(x) = max(-1, min(1, x))"),
        Activation("tanh", sp.tanh(x), (), {}, r"\tanh", description="tanh(x)"),
        Activation("erf", sp.erf(x), (), {}, r"\mathrm{erf}", description="erf(x)"),
        Activation("gelu", x * (1 + sp.erf(x / sp.sqrt(2))) / 2, (), {}, r"\mathrm{GELU}",
                   description="GELU(x) = x Phi(x)"),
        Activation("silu", x * (1 + sp.tanh(x / 2)) / 2, (), {}, r"\mathrm{SiLU}",
                   description="SiLU(x) = x sigmoid(x) = x (1 + tanh(x/2)) / 2"),
    ]
    return {a.name: a for a in acts}


#: The built-in activations by name.
CATALOGUE: dict[str, Activation] = _builtin()
#: The paper's four sparsifying activations.
PAPER_ACTIVATIONS: tuple[str, ...] = ("relu", "st", "crelu", "cst")
_ALIASES = {"relu_tau": "relu", "st_tau": "st", "relu0": "plain_relu", "id": "identity",
            "swish": "silu", "hard_tanh": "hardtanh", "smooth_crelu": "screlu",
            "smooth_cst": "scst"}


def list_activations() -> list[str]:
    """Names of the built-in activations."""
    return list(CATALOGUE)


def get_activation(name: str | Activation, **values: float) -> Activation:
    """A catalogue activation by name (case-insensitive), with parameter values set.

    Raises ValueError naming the known activations if ``name`` is unknown.
    """
    if isinstance(name, Activation):
        return name.with_values(**values) if values else name
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in CATALOGUE:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(CATALOGUE)} "
                         "(or use Activation.from_string for your own)")
    act = CATALOGUE[key]
    return act.with_values(**values) if values else act
