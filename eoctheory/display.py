r"""How the package's objects show themselves in a console and in Jupyter.

Results and settings (:class:`~eoctheory.theory.stability.StabilityReport`,
:class:`~eoctheory.theory.setting.Setting`, the ``recommend`` results) get a short
``__repr__`` (:func:`short_repr`) and an HTML table (:func:`html_table`); derived expressions
and activations get LaTeX (:func:`math_block`) printed by :mod:`eoctheory.latex`, never
typed here. Text from the objects is escaped (:func:`html.escape`); the labels of
:data:`LABELS` are fixed HTML written here.

Examples
--------
>>> print(short_repr("Setting", {"activation": "relu", "q_star": 1.0, "sigma_w2": 2.0000001}))
Setting(activation='relu', q_star=1, sigma_w2=2)
>>> print(math_block([("V(q)", "q"), ("s(q)", r"\tfrac{1}{2}")]))
$$\begin{aligned} V(q) &= q \\ s(q) &= \tfrac{1}{2} \end{aligned}$$
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["LABELS", "dataclass_items", "format_value", "html_table", "math_block",
           "short_repr"]

#: HTML labels of common field names (the rest are shown as their names, escaped).
LABELS: dict[str, str] = {
    "q_star": "q<sup>*</sup>",
    "sigma_w2": "&sigma;<sub>w</sub><sup>2</sup>",
    "sigma_b2": "&sigma;<sub>b</sub><sup>2</sup>",
    "chi1": "&chi;<sub>1</sub>",
    "variance_slope": "V&prime;(q<sup>*</sup>)",
    "V_prime": "V&prime;(q<sup>*</sup>)",
    "variance_curvature": "V&Prime;(q<sup>*</sup>)",
    "V_second": "V&Prime;(q<sup>*</sup>)",
    "tau": "&tau;",
    "m": "m",
    "sparsity": "sparsity s",
}


def format_value(value: Any, digits: int = 6) -> str:
    """Plain text of one field: floats to ``digits`` significant digits, None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        v = float(value)
        return f"{v:.{digits}g}" if math.isfinite(v) else str(v)
    if hasattr(value, "name") and hasattr(value, "values") and hasattr(value, "expr"):
        params = ", ".join(f"{k}={format_value(v, digits)}" for k, v in value.values.items())
        return f"{value.name}({params})" if params else str(value.name)
    if hasattr(value, "q") and hasattr(value, "kind"):  # a fixed point
        return f"q={format_value(value.q, digits)} ({value.kind})"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v, digits)}" for k, v in value.items()) or "-"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v, digits) for v in value) + ")"
    if isinstance(value, list):
        return "; ".join(format_value(v, digits) for v in value) if value else "-"
    return str(value)


def dataclass_items(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields of a dataclass instance, in declaration order, without ``skip``."""
    skipped = set(skip)
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
            if f.name not in skipped}


def short_repr(name: str, items: Mapping[str, Any], digits: int = 6,
               lines: Sequence[str] = ()) -> str:
    """``Name(key=value, ...)`` on one line, then ``lines`` indented (a few at most).

    Strings are quoted, mappings shown as ``{k=v, ...}`` and lists as ``[...]``.
    """
    def one(v: Any) -> str:
        if isinstance(v, str):
            return repr(v)
        text = format_value(v, digits)
        if isinstance(v, Mapping):
            return "{" + (text if v else "") + "}"
        return f"[{text if v else ''}]" if isinstance(v, list) else text

    head = f"{name}(" + ", ".join(f"{k}={one(v)}" for k, v in items.items())
    return "\n".join([head + ")", *(f"  {ln}" for ln in lines)])


def html_table(title: str, items: Mapping[str, Any], digits: int = 6) -> str:
    """A two-column HTML table of ``items`` under ``title``; lists become bullet lists."""
    rows = []
    for key, value in items.items():
        label = LABELS.get(key, html.escape(str(key)))
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            cell = "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in value) + "</ul>"
        else:
            cell = html.escape(format_value(value, digits))
        rows.append(f'<tr><th style="text-align:left">{label}</th>'
                    f'<td style="text-align:left">{cell}</td></tr>')
    return (f'<table class="eoctheory"><caption style="text-align:left">'
            f"<b>{html.escape(title)}</b></caption><tbody>{''.join(rows)}</tbody></table>")


def math_block(equations: Sequence[tuple[str, str]]) -> str:
    r"""Display math for Jupyter: ``$$lhs = rhs$$``, or an ``aligned`` block of several.

    ``equations`` are (left side, right side) pairs of LaTeX written by
    :mod:`eoctheory.latex`.
    """
    if len(equations) == 1:
        lhs, rhs = equations[0]
        return f"$${lhs} = {rhs}$$"
    body = r" \\ ".join(f"{lhs} &= {rhs}" for lhs, rhs in equations)
    return r"$$\begin{aligned} %s \end{aligned}$$" % body
