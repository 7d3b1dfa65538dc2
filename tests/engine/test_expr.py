"""The safe expression reader (eoctheory.engine.expr) and the refusal of activations the
engine cannot treat right (eoctheory.engine.admissible): payloads, bounds, canaries, round
trips, and the jumps / singularities / growth the numeric route would get wrong."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy.special import erf, erfc

import eoctheory as eoc
from eoctheory.cli.main import main as cli_main
from eoctheory.engine.activations import CATALOGUE, M, TAU, X, Activation
from eoctheory.engine.admissible import check_activation
from eoctheory.engine.expr import (
    RESERVED_NAMES,
    check_parameter_name,
    parameter_names,
    parse_activation,
)
from eoctheory.engine.gaussian import MPMATH_FUNCTIONS, NUMPY_FUNCTIONS

ROOT = Path(__file__).resolve().parents[2]
# Every refusal must come back fast. The payloads below are refused in milliseconds; a
# bound that failed to trigger would take minutes or exhaust memory (9**9**9 has 3.7e8
# digits), so 1 s separates the two cleanly even on a loaded 2-core machine.
FAST = 1.0


def _refused(text: str, **kw) -> str:
    """Run ``text`` through from_string; return the one-line message (asserting its form)."""
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        Activation.from_string(text, **kw)
    elapsed = time.perf_counter() - t0
    msg = str(info.value)
    assert elapsed < FAST, (text[:60], elapsed)
    assert "\n" not in msg and "\r" not in msg, msg
    assert len(msg) < 600, len(msg)
    if len(text) > 60:  # at most ~60 characters of the input are quoted
        assert text[:61] not in msg
    return msg


# --- (a) unsafe or unsupported syntax --------------------------------------------------------

PAYLOADS = [
    ("__import__('os').system('touch pwned')", "attribute access \".system\""),
    ("__import__('os')", "function \"__import__\""),
    ("__import__", "name \"__import__\""),
    ("().__class__.__bases__", "attribute access \".__bases__\""),
    ("lambda: 0", "lambda"),
    ("(lambda: x)()", "call of something other than a function name"),
    ("exec('import os')", "function \"exec\""),
    ("eval('1')", "function \"eval\""),
    ("S('x')", "function \"S\""),
    ("sympify('x')", "function \"sympify\""),
    ("parse_expr('x')", "function \"parse_expr\""),
    ("open('f', 'w').write('x')", "attribute access \".write\""),
    ("open('f')", "function \"open\""),
    ("getattr(x, 'y')", "function \"getattr\""),
    ("x.__class__", "attribute access \".__class__\""),
    ("x.real", "attribute access"),
    ("x[0]", "subscript"),
    ("[x]", "list"),
    ("{'a': 1}", "dict"),
    ("{x}", "set"),
    ("f'{x}'", "f-string"),
    ("'x'", "string literal"),
    ("b'x'", "string literal"),
    ("[i for i in (x,)]", "comprehension"),
    ("(i for i in (x,))", "generator"),
    ("(y := x)", "assignment expression"),
    ("Max(*x)", "starred"),
    ("Max(x, 0, key=abs)", "keyword arguments"),
    ("x if x > 0 else 0", "conditional expression"),
    ("x < 1", "comparison"),
    ("(x, 1)", "tuple outside a Piecewise branch"),
    ("x^2", "operator '^' (write ** for powers)"),
    ("x // 2", "'//'"),
    ("x % 2", "'%'"),
    ("x @ x", "'@'"),
    ("~x", "'~'"),
    ("True + x", "True/False"),
    ("None", "literal"),
    ("1j*x", "complex literal"),
    ("exp", "without a call"),
    ("factorial(10**8)*x", "function \"factorial\""),
    ("Max(0, x - 0.5)*gamma(2)", "function \"gamma\""),
    ("floor(x)", "function \"floor\""),
    ("Symbol('y')", "function \"Symbol\""),
    ("α*x", "name \"α\""),
    ("Piecewise((0, x == 1), (x, True))", "'=='"),
    ("Piecewise((0, x is 1), (x, True))", "'is'"),
    ("Piecewise((0, x), (x, True))", "not a comparison"),
    ("Piecewise((0, x < 1, 2), (x, True))", "not a pair"),
    ("Piecewise()", "1 to 32 branches"),
    ("Max(x)", "2 to 8 arguments"),
    ("exp(x, 2)", "takes 1 argument"),
    ("x +* 2", "cannot parse"),
    ("Piecewise((0, x < ), (x, True))", "cannot parse"),
    ("x\0", "cannot parse"),
    ("", "empty"),
    ("   ", "empty"),
]


@pytest.mark.parametrize("text, match", PAYLOADS, ids=[p[0][:30] for p in PAYLOADS])
def test_unsafe_syntax_refused(text, match):
    msg = _refused(text)
    assert match in msg, msg
    with pytest.raises(ValueError, match=re.escape(match)):
        parse_activation(text)


BOUNDS = [
    ("9**9**9*x", "exponent 9 too large"),
    ("2**10**10", "exponent 10 too large"),
    ("(x+1)**2000", "exponent 2000 too large"),
    ("x**x", "non-constant exponent"),
    ("2**x", "non-constant exponent"),
    ("x**tau", "exponent with a parameter"),
    ("x**pi", "irrational exponent"),
    ("x**(1/9)", "exponent 1/9 too large"),
    ("(x**8)**8", "polynomial degree 64"),
    ("x**8*x**8", "polynomial degree 16"),
    ("(x**4 + 1)**2*(x + 1)", "polynomial degree 9"),
    ("((((10**6)**2)**8)**8)**8*x", "numbers must be 0 or of magnitude"),
    ("(10**6)**2*(10**6)**2*x", "1e+24"),
    ("10**13*x", "exponent 13 too large"),
    ("10000000000000*x", "number too large"),
    ("1e300*x", "number too large"),
    ("1e400*x", "number too large"),
    ("1e-300*x", "number too small"),
    ("x/0", "division by zero"),
    ("0**-1 + x", "division by zero"),
    ("(-8)**(1/3)*x", "complex value"),
    ("sqrt(-1)*x", "not a finite real number"),
    ("log(0)*x", "not a finite real number"),
    ("log(-1) + x", "not a finite real number"),
    ("I*x", "imaginary unit"),
    ("oo*x", "infinity"),
    ("nan*x", "undefined"),
    ("zoo + x", "complex infinity"),
    ("q*x", "reserved"),
    ("select*x", "reserved"),
    ("x0*x", "reserved"),
    ("sigma_w2*x", "reserved"),
    ("+".join(f"Max(0, x - {k})" for k in range(7)), "unfolds into up to 128 pieces"),
    ("Piecewise(" + ", ".join(f"({k}, x < {k})" for k in range(33)) + ", (x, True))",
     "1 to 32 branches"),
    ("x" + "+x" * 1200, "too long"),
    ("(" * 500 + "x" + ")" * 500, "cannot parse"),
    ("-" * 1500 + "x", "too deeply nested"),
    ("x" + "**x" * 600, "too deeply nested"),
    ("x" + "+x" * 120, "too deeply nested (depth at most 100)"),
    ("Max(" + ",".join(["-x"] * 600) + ")", "too complex: more than 1000 syntax nodes"),
]


@pytest.mark.parametrize("text, match", BOUNDS, ids=[b[0][:30] for b in BOUNDS])
def test_bounds_refused_before_building(text, match):
    msg = _refused(text)
    assert match in msg, msg


def test_no_file_contents_leak(tmp_path, monkeypatch):
    """The old reader evaluated Symbol(open(FILE).read()) and echoed the secret."""
    (tmp_path / "secret.txt").write_text("TOPSECRET\n")
    monkeypatch.chdir(tmp_path)
    for text in ("x + Symbol(open('secret.txt').read().strip())",
                 "x + open('secret.txt').read()", "secret"):
        try:
            Activation.from_string(text)
        except ValueError as exc:
            assert "TOPSECRET" not in str(exc)
        else:  # pragma: no cover - must not happen
            pytest.fail(text)


def test_long_input_quoted_short():
    # 800 characters, shallow, the attribute at the very end
    text = "Piecewise(" + ", ".join(f"({i}*x + 0.25*x**2, x < {i})" for i in range(30)) \
        + ", (x.y, True))"
    msg = _refused(text)
    assert "attribute access" in msg and '..."' in msg


# --- (b) canaries: nothing the user types runs ---------------------------------------------

def _canary_payloads(canary: str) -> list[str]:
    c = canary
    return [
        f"__import__('os').system('touch {c}')",
        f"open('{c}', 'w').write('x')",
        f"exec(\"open('{c}', 'w')\")",
        f"eval(\"open('{c}', 'w')\")",
        f"S(\"open('{c}', 'w')\")",
        f"sympify(\"open('{c}', 'w')\")",
        f"__import__('pathlib').Path('{c}').touch()",
        f"(lambda: open('{c}', 'w'))()",
        f"[open('{c}', 'w') for i in (1,)]",
        f"x + Symbol(open('{c}', 'w').name)",
        f"getattr(__import__('os'), 'system')('touch {c}')",
    ]


def test_canary_control_old_reader_would_run_it(tmp_path):
    """Control: the payload is live; SymPy's parse_expr (the old reader) creates the file."""
    canary = tmp_path / "control"
    code = ("import sympy, sys; sympy.parse_expr(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, f"open('{canary}', 'w').write('x') + x"],
                   cwd=tmp_path, capture_output=True, timeout=120)
    assert canary.exists()


def test_canary_python_api(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "pwned"
    for text in _canary_payloads(str(canary)) + _canary_payloads("pwned"):
        _refused(text)
        with pytest.raises(ValueError):
            parameter_names(text)
        assert not canary.exists(), text


def test_canary_cli_in_process(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    canary = tmp_path / "pwned"
    for text in _canary_payloads(str(canary)):
        for command in ("check", "latex"):
            rc = cli_main([command, "custom", "--expr", text])
            err = capsys.readouterr().err
            assert rc == 2, (command, text)
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert not canary.exists(), text


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "eoctheory", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("command", ["check", "latex"])
def test_canary_cli_subprocess(tmp_path, command):
    """A real process per payload (a representative subset: starting one costs ~1 s)."""
    canary = tmp_path / "pwned"
    for text in _canary_payloads("pwned")[:6]:
        proc = _cli([command, "custom", "--expr", text], tmp_path)
        assert proc.returncode == 2, (text, proc.stderr)
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr and "error:" in proc.stderr
        assert not canary.exists(), text


def test_cli_gamma_is_not_m(tmp_path):
    """The old CLI took 'm' out of 'gamma' (substring) and failed with KeyError 'tau'."""
    proc = _cli(["check", "custom", "--expr", "Max(0, x - 0.5)*gamma(2)"], tmp_path)
    assert proc.returncode == 2 and "function \"gamma\"" in proc.stderr, proc.stderr
    assert "KeyError" not in proc.stderr and "tau" not in proc.stderr


# --- (c) what is read, and read right ------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, a in CATALOGUE.items() if a.expr is not None])
def test_catalogue_round_trip(name):
    act = CATALOGUE[name]
    back = parse_activation(str(act.expr), {"x": X, **{p.name: p.symbol for p in act.params}})
    assert sp.simplify(back - act.expr) == 0
    xs = np.linspace(-3, 3, 61)  # both exact expressions: equal in float64 to round-off
    vals = list(act.values.values())
    f0 = sp.lambdify((X, *act.symbols), act.expr, [NUMPY_FUNCTIONS, "numpy"])
    f1 = sp.lambdify((X, *act.symbols), back, [NUMPY_FUNCTIONS, "numpy"])
    np.testing.assert_allclose(np.broadcast_to(f1(xs, *vals), xs.shape),
                               np.broadcast_to(f0(xs, *vals), xs.shape), rtol=1e-15, atol=0)
    # and through the public constructor, with the same parameter values
    again = Activation.from_string(str(act.expr), params=dict(act.values))
    np.testing.assert_allclose(again(xs), act(xs), rtol=1e-15, atol=0)


def test_readme_and_cli_examples():
    ramp = Activation.from_string("Piecewise((0, x < 0.3), (2*(x - 0.3), x < 1), (1.4, True))",
                                  name="ramp")
    np.testing.assert_allclose(ramp([0.5, 2.0, -1.0]), [0.4, 1.4, 0.0], rtol=0, atol=1e-15)
    crelu = Activation.from_string("Piecewise((0, x < tau), (x - tau, x < tau + m), "
                                   "(m, True))")
    assert crelu.values == {"tau": 0.0, "m": 1.0}  # tau and m found in the tree, defaults
    assert crelu.params[0].symbol == TAU and crelu.params[1].symbol == M
    np.testing.assert_allclose(crelu([-1.0, 0.5, 3.0], tau=0.5, m=1.0), [0.0, 0.0, 1.0])


def test_decimals_are_exact_and_names_come_from_the_tree():
    assert parse_activation("0.3*x") == sp.Rational(3, 10) * X
    assert parse_activation("1e-3*x") == X / 1000
    assert parse_activation("x**0.5") == sp.sqrt(X)
    assert parameter_names("Max(0, x - 0.5)*gamma") == ("gamma",)  # not 'm'
    assert parameter_names("Piecewise((0, x < tau), (x - tau, x < tau + m), (m, True))") \
        == ("tau", "m")
    assert parameter_names("max(0, x) + abs(x) + min(x, 1) + exp(-x**2)*sin(pi*x) + E") == ()
    act = Activation.from_string("x*gamma", params={"gamma": 2.0})
    assert act.param_names == ("gamma",) and float(act(1.5)) == 3.0


def test_other_parameters_need_values():
    msg = _refused("Max(0, x - k)")
    assert "'k'" in msg and "--param k=0.5" in msg and "params={'k': 0.5}" in msg
    act = Activation.from_string("Max(0, x - k)", params={"k": 0.25}, bounds={"k": (0, 1)})
    assert float(act(1.0)) == 0.75
    with pytest.raises(ValueError, match="k must satisfy"):
        act(1.0, k=2.0)
    with pytest.raises(ValueError, match="declared parameter|undeclared parameter"):
        parse_activation("x - k", {"tau": TAU})


def test_reserved_names_cover_generated_code():
    """A parameter may not shadow a name lambdify's code uses, nor a symbol of the package."""
    for n in (*NUMPY_FUNCTIONS, *MPMATH_FUNCTIONS, "select", "e", "pi", "nan", "mpf", "x3"):
        with pytest.raises(ValueError):
            check_parameter_name(n)
    # every symbol eoctheory derives with (q, sigma_w2, u, ...) is reserved
    names = set()
    for path in (ROOT / "eoctheory").rglob("*.py"):
        names |= set(re.findall(r"sp\.Symbol\(\"(\w+)\"", path.read_text()))
    assert names, "no symbols found: the scan is broken"
    # the catalogue's parameter symbols (tau, m; beta of screlu/scst) are parameters, not code
    assert names - {"x", "tau", "m", "beta"} <= RESERVED_NAMES, names - RESERVED_NAMES
    for ok in ("k", "a", "alpha", "beta", "gamma", "slope", "tau2"):
        assert check_parameter_name(ok) == ok


def test_from_expr_types():
    with pytest.raises(ValueError, match="cannot use a list"):
        Activation.from_expr([X])
    with pytest.raises(ValueError, match="cannot use a bool"):
        Activation.from_expr(True)
    with pytest.raises(ValueError, match="needs a str"):
        Activation.from_string(X)
    # a SymPy object built by a programmer: user symbols matched by name
    k = sp.Symbol("k")
    act = Activation.from_expr(sp.Max(0, sp.Symbol("x") - k) * 0.5, params={"k": 0.1})
    assert act.expr == sp.Max(0, X - act.params[0].symbol) / 2
    tau_plain = sp.Symbol("tau")
    assert Activation.from_expr(sp.Max(0, X - tau_plain)).values == {"tau": 0.0}


# --- (d) activations the engine cannot treat right -----------------------------------------

REFUSED = [
    # jumps where only quadrature applies: chi_1 would come out finite and wrong
    ("Piecewise((0, x**2 < 1), (x, True))", "jumps at x = -1"),
    ("Piecewise((x, x > 0), (exp(x), True))", "jumps at x = 0"),
    ("sign(x**3 - x)", "jumps at x = -1"),
    ("Heaviside(x**2 - 1)", "jumps"),
    ("Piecewise((0, x < tau), (exp(x) - 1, True))", "(at tau=0.5)"),  # continuous at tau = 0
    ("Piecewise((1.000000000000000000000000000001, x < 0), (exp(x), True))",
     "jumps at x = 0 by -1e-30"),  # decided exactly, not lost to float64
    # undefined or singular
    ("1/x", "1/x is singular or undefined for x in {0}"),
    ("log(x)", "log(x) is singular or undefined"),
    ("sqrt(x)", "sqrt(x) is singular or undefined"),
    ("Piecewise((0, x < 0), (sqrt(x), True))", "for x in {0}"),  # phi' infinite at 0
    ("Abs(x)**(1/2)", "singular or undefined"),
    ("x**(1/3)", "singular or undefined"),
    ("1/(x - tau)", "singular"),
    ("Piecewise((x, x > 0), (0, x < 0))", "undefined at x = 0"),
    ("Piecewise((exp(x), x > 0))", "undefined for x in"),
    ("Piecewise((0, sin(x) < 0), (x, True))", "cannot tell where the condition"),
    # growth: E[phi(sqrt(q) Z)^2] infinite, or float64 overflow
    ("exp(x**2)", "grows faster than exp(c*|x|)"),
    ("x*exp(x**3)", "grows faster"),
    ("exp(exp(x))", "grows faster"),
    ("1/erfc(x)", "grow without bound"),
    ("exp(-log(erfc(x)))", "grow without bound"),
    ("exp(100*x)", "not a finite float64 number"),
]


@pytest.mark.parametrize("text, match", REFUSED, ids=[r[0][:30] for r in REFUSED])
def test_engine_refuses(text, match):
    msg = _refused(text)
    assert match in msg and msg.startswith("activation 'custom': "), msg


SYMPY_REFUSED = [
    (sp.I * X, "imaginary unit"),
    (sp.nan * X, "not a finite real number"),
    (sp.zoo * X, "not a finite real number"),
    (sp.oo * X, "not a finite real number"),
    (sp.floor(X), "floor is not supported"),
    (sp.gamma(X), "gamma is not supported"),
    (sp.Function("f")(X), "f is not supported"),
    (sp.Integral(X, X), "Integral is not supported"),
    (X**X, "exponents must be integers or fractions"),
    (X**20, "exponents must be integers"),
    ((X + 1)**8 * (X + 1)**8, "exponents must be integers"),
    ((X**2 + 1)**4 * X, "polynomial degree 9"),
    (sp.Float(1e300) * X, "out of range"),
    (sp.EulerGamma * X, "constant EulerGamma"),
    (sp.Piecewise((0, sp.Eq(X, 1)), (X, True)), "StrictLessThan|Equality|not supported"),
]


@pytest.mark.parametrize("expr, match", SYMPY_REFUSED, ids=[str(e)[:30] for e, _ in
                                                            SYMPY_REFUSED])
def test_sympy_objects_refused(expr, match):
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        Activation.from_expr(expr)
    assert time.perf_counter() - t0 < FAST
    msg = str(info.value)
    assert "\n" not in msg and re.search(match, msg), msg


def test_direct_construction_checks_form():
    with pytest.raises(ValueError, match="floor is not supported"):
        Activation("bad", sp.floor(X))
    with pytest.raises(ValueError, match="imaginary unit"):
        Activation("bad", sp.I * X)


def test_exact_route_jumps_accepted_and_reported():
    """A jump the exact route sees is treated right (chi_1 = infinity), so it is accepted;
    allow_jumps=False refuses it."""
    for text in ("sign(x)", "Heaviside(x)", "Piecewise((0, Abs(x) < 1), (x, True))",
                 "Piecewise((0, x < 1/2), (1, True))"):
        act = Activation.from_string(text)
        assert eoc.derive(act).jumps, text
        with pytest.raises(ValueError, match="chi_1 is infinite"):
            eoc.chi1(act, 1.0, 1.0)
        msg = _refused(text, allow_jumps=False)
        assert "jumps at x =" in msg and "allow_jumps=False" in msg
    # a continuous one passes with allow_jumps=False
    Activation.from_string("Max(0, x - 1)", allow_jumps=False)


SMOOTH = [  # accepted, and evaluated right (reference typed independently with NumPy)
    ("Piecewise((x, x > 0), (exp(x) - 1, True))", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("log(1 + exp(x))", lambda x: np.logaddexp(0, x)),
    ("x*tanh(log(1 + exp(x)))", lambda x: x * np.tanh(np.logaddexp(0, x))),
    ("1/(1 + exp(-x))", lambda x: 0.5 * (1 + np.tanh(x / 2))),
    ("x/sqrt(1 + x**2)", lambda x: x / np.sqrt(1 + x * x)),
    ("x/(1 + Abs(x))", lambda x: x / (1 + np.abs(x))),
    ("x*exp(-x**2/2)", lambda x: x * np.exp(-x * x / 2)),
    ("Piecewise((0, x < 1), (log(x), True))", lambda x: np.log(np.maximum(x, 1))),
    ("Max(0, tanh(x))", lambda x: np.maximum(0, np.tanh(x))),
    ("x*erf(x/sqrt(2))", lambda x: x * erf(x / np.sqrt(2))),
    ("erfc(-x)/2", lambda x: erfc(-x) / 2),
    ("Piecewise((0, x**3 - x < 0), (x**3 - x, True))", lambda x: np.maximum(0, x**3 - x)),
    ("Piecewise((x, x**2 < 1), (sign(x), True))", lambda x: np.clip(x, -1, 1)),
    ("sqrt(x**2 + 1) - 1 + sin(x)*cos(x)", lambda x: np.sqrt(x * x + 1) - 1 + np.sin(2 * x) / 2),
]


@pytest.mark.parametrize("text, ref", SMOOTH, ids=[s[0][:30] for s in SMOOTH])
def test_accepted_and_evaluated(text, ref):
    t0 = time.perf_counter()
    act = Activation.from_string(text)
    assert time.perf_counter() - t0 < 5.0  # the whole check; typically 10-100 ms
    xs = np.linspace(-6, 6, 241)
    # float64 round-off of both evaluations (log1p/expm1 vs log/exp: a few ulp near 0)
    np.testing.assert_allclose(act(xs), ref(xs), rtol=1e-12, atol=1e-15)


def test_time_budget_is_checked_between_steps():
    act = Activation.from_string("log(1 + exp(x))")
    with pytest.raises(ValueError, match="took more than 0 s"):
        check_activation(act, seconds=0.0)
