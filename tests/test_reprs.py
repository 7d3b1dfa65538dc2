"""How objects show themselves in a console and in Jupyter (issue 16): ``__repr__`` is a short
str, ``_repr_latex_`` is math (``$...$`` / ``$$...$$``, balanced groups and environments, the
expected symbols, and it compiles with pdflatex where that is installed), ``_repr_html_`` is
well-formed HTML (checked with :mod:`html.parser`) with the object's text escaped. No repr
raises for any catalogue activation.

``assess`` runs for the piecewise-linear catalogue entries (milliseconds each) and for tanh
at 15 digits (the numeric route; the smooth entries take 3-11 s each at the default 30).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

import eoctheory as eoc
from eoctheory.engine.activations import CATALOGUE
from eoctheory.engine.gaussian import NotPiecewisePolynomial
from eoctheory.theory.setting import resolve_setting

PIECEWISE_LINEAR = ("relu", "st", "crelu", "cst", "plain_relu", "identity", "hardtanh")
VOID = {"br", "hr", "img", "meta", "input", "col", "wbr"}


class _Checker(HTMLParser):
    """Every start tag closed by its own end tag, in order; text collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(text: str) -> _Checker:
    assert isinstance(text, str) and text.startswith("<table")
    parser = _Checker()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed {parser.stack}"
    assert {"table", "tr", "th", "td"} <= set(parser.tags)
    return parser


def check_latex(text: str, *symbols: str) -> str:
    """Math delimiters, balanced braces, \\left/\\right and \\begin/\\end; the symbols."""
    assert isinstance(text, str)
    m = re.fullmatch(r"(\$\$?)(.+?)\1", text, flags=re.S)
    assert m, text[:80]
    body = m.group(2)
    assert "$" not in body
    depth = 0
    for i, ch in enumerate(body):
        if ch in "{}" and i and body[i - 1] == "\\":
            continue  # \{ and \} are characters, not groups
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, body
    assert depth == 0, body
    assert len(re.findall(r"\\left\b", body)) == len(re.findall(r"\\right\b", body))
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", body)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, body
    assert not stack
    for s in symbols:
        assert s in body, (s, body[:200])
    return text


def check_repr(text: str, start: str) -> None:
    assert isinstance(text, str) and text.startswith(start)
    lines = text.splitlines()
    assert 1 <= len(lines) <= 6 and all(len(ln) < 400 for ln in lines), text


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", list(CATALOGUE))
def test_activation_and_setting_reprs(name):
    act = eoc.get_activation(name)
    check_repr(repr(act), "Activation(")
    check_latex(act._repr_latex_(), act.label + "(x)", " = ")
    for p in act.params:  # each parameter value is shown after the formula
        assert f"= {act.values[p.name]:.6g}" in act._repr_latex_()
    setting = resolve_setting(act)
    check_repr(repr(setting), "Setting(")
    assert f"activation={name!r}" in repr(setting)
    page = check_html(setting._repr_html_())
    assert name in "".join(page.text)


def test_activation_latex_uses_the_printer():
    # the project's printer writes the paper's notation: tau as \tau, cases for pieces
    tex = eoc.get_activation("crelu", tau=0.5, m=2)._repr_latex_()
    check_latex(tex, r"\mathrm{CReLU}_{\tau,m}(x)", r"\begin{cases}", r"\tau = 0.5", "m = 2")
    callable_act = eoc.Activation.from_callable(lambda x: x * x, name="square")
    check_latex(callable_act._repr_latex_(), r"\mathrm{square}(x)")
    check_repr(repr(callable_act), "Activation('square', callable")


# --------------------------------------------------------------------------- derivations
@pytest.mark.parametrize("name", list(CATALOGUE))
def test_derivation_reprs(name):
    try:
        der = eoc.derive(name)
    except NotPiecewisePolynomial:
        pytest.skip(f"{name}: no closed form (quadrature route)")
    check_repr(repr(der), "Derivation(")
    symbols = ["s(q)", "V(q)", "V'(q)", "V''(q)", r"\sigma_w^{2}"]
    if der.slope_moment is not None:
        symbols.append(r"\chi_1(q)")
    if any(str(p) == "tau" for p in der.params):
        symbols.append(r"\tau")
    check_latex(der._repr_latex_(), *symbols)


def test_derivation_of_a_jump_leaves_out_chi1():
    act = eoc.Activation.from_expr("Piecewise((0, x < tau), (1, True))", name="step",
                                   params={"tau": 0.0})
    der = eoc.derive(act)
    tex = check_latex(der._repr_latex_(), "s(q)", "V(q)")
    assert r"\chi_1" not in tex and "jumps=1" in repr(der)


# --------------------------------------------------------------------------- check
@pytest.mark.parametrize("name", PIECEWISE_LINEAR)
def test_stability_report_reprs(name):
    report = eoc.assess(name)
    check_repr(repr(report), "StabilityReport(")
    assert f"verdict={report.verdict!r}" in repr(report)
    page = check_html(report._repr_html_())
    text = "".join(page.text)
    assert report.verdict in text and all(r in text for r in report.reasons)


def test_stability_report_of_a_smooth_activation():
    report = eoc.assess("tanh", dps=15)
    check_repr(repr(report), "StabilityReport(activation='tanh'")
    check_html(report._repr_html_())


def test_html_escapes_the_objects_text():
    act = eoc.Activation.from_expr("Piecewise((0, x < tau), (x - tau, True))",
                                   name="a<script>&c", params={"tau": 0.5})
    setting = resolve_setting(act)
    page = check_html(setting._repr_html_())
    assert "script" not in page.tags  # the name's <script> is text, not a tag
    assert "a<script>&c" in "".join(page.text)
    assert str(act.expr) in "".join(page.text)  # its "<" and ">" came through as text


# --------------------------------------------------------------------------- recommend
def test_recommend_reprs():
    from eoctheory.theory.recommend import min_width, recommend

    rec = recommend("crelu", sparsity=0.7, width=300, depth=100)
    check_repr(repr(rec), "Recommendation(activation='crelu'")
    assert f"verdict={rec.verdict!r}" in repr(rec)
    text = "".join(check_html(rec._repr_html_()).text)
    assert all(n in text for n in rec.notes)
    wid = min_width("crelu", sparsity=0.7, depth=100, m=1.0)
    check_repr(repr(wid), "WidthRecommendation(activation='crelu'")
    check_html(wid._repr_html_())


# --------------------------------------------------------------------------- pdflatex
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not on PATH")
def test_latex_reprs_compile(tmp_path):
    parts = []
    for name in CATALOGUE:
        parts.append(eoc.get_activation(name)._repr_latex_())
        try:
            parts.append(eoc.derive(name)._repr_latex_())
        except NotPiecewisePolynomial:
            pass
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
           + "\n\n".join(parts) + "\n\\end{document}\n")
    (tmp_path / "reprs.tex").write_text(doc)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "reprs.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
