r"""Local Sphinx extension of the eoctheory documentation.

Two things, both generated at build time from the package (nothing hand-copied):

* ``.. eoc-derivations::`` renders the document that ``python -m eoctheory latex
  --write-derivations`` writes to ``derivations/`` (:func:`eoctheory.latex.derivations_main`
  and :func:`eoctheory.latex.derivation_section`, the same functions, so the same LaTeX):
  ``\section`` becomes a heading, ``\paragraph`` a rubric, ``align*`` and ``\[ \]`` display
  math (MathJax), ``$...$`` inline math. Options: ``:preamble:`` (the notation paragraph of
  ``main.tex``) or ``:family: NAME`` (one file stem of
  :data:`eoctheory.latex.DERIVATION_FAMILIES`; default: every family).
* :func:`write_api_pages` writes ``docs/api/gen/*.rst``, one page per public subpackage:
  an autosummary table of the package's ``__all__`` (the top level: ``eoctheory.__all__``)
  and the full documentation of each public submodule (``automodule :members:``, which keeps
  to the module's ``__all__``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

#: Subpackages documented in the API reference, in layer order.
API_PACKAGES = ("engine", "theory", "nets", "experiments", "latex", "figures", "cli")
#: Submodules left out of the API pages: ``nets.reference`` only re-exports names documented
#: in their own modules.
API_SKIP = {"eoctheory.nets.reference"}


# --------------------------------------------------------------------------- LaTeX -> rst
_INLINE = re.compile(r"\$(.+?)\$")
_TEXTTT = re.compile(r"\\texttt\{(.+?)\}")


def _inline(text: str) -> str:
    """LaTeX running text -> rst: ``$x$`` -> :math:, ``\texttt`` -> literal, ``~`` -> space."""
    parts = []
    pos = 0
    for m in _INLINE.finditer(text):
        parts.append(_plain(text[pos:m.start()]))
        math = m.group(1).replace("`", r"\`")
        parts.append(f":math:`{math}`")
        pos = m.end()
    parts.append(_plain(text[pos:]))
    return "".join(parts)


def _plain(text: str) -> str:
    text = _TEXTTT.sub(lambda m: "``" + m.group(1).replace("\\_", "_") + "``", text)
    text = text.replace("\\noindent", "").replace("~", "\u00a0").replace("*", r"\*")
    return text


def latex_to_rst(tex: str, level_char: str = "-") -> list[str]:
    r"""Convert the subset of LaTeX that :mod:`eoctheory.latex.document` writes into rst lines.

    Unknown preamble commands (``\documentclass``, ``\usepackage``, ``\input``, ...) and
    ``%`` comment lines are dropped, except a comment right after ``\section`` (the
    activation's description), which becomes an italic line.
    """
    out: list[str] = []
    lines = tex.splitlines()
    i = 0
    after_section = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("\\section{"):
            title = stripped[len("\\section{"):-1]
            title = _inline(title)
            out += ["", title, level_char * max(len(title), 3), ""]
            after_section = True
        elif stripped.startswith("%"):
            if after_section and not stripped.startswith("% Generated") \
                    and not stripped.startswith("% from the"):
                out += ["", "*" + _plain(stripped.lstrip("% ")).strip() + "*", ""]
        elif stripped.startswith("\\begin{align*}") or stripped.startswith("\\["):
            end = "\\end{align*}" if stripped.startswith("\\begin") else "\\]"
            body = []
            if stripped.startswith("\\[") and stripped.rstrip().endswith("\\]"):
                body.append(stripped[2:-2].strip())
            else:
                i += 1
                while i < len(lines) and not lines[i].strip().startswith(end):
                    body.append(lines[i])
                    i += 1
            if end == "\\end{align*}":
                out += ["", ".. math::", "   :nowrap:", "", "   \\begin{align*}"]
                out += ["   " + b for b in body] + ["   \\end{align*}", ""]
            else:
                out += ["", ".. math::", ""] + ["   " + b for b in body] + [""]
        elif stripped.startswith("\\paragraph{"):
            # \paragraph{Title.} rest of line
            depth, j = 0, len("\\paragraph")
            for j in range(len("\\paragraph"), len(stripped)):
                depth += {"{": 1, "}": -1}.get(stripped[j], 0)
                if depth == 0:
                    break
            title = stripped[len("\\paragraph{"):j]
            rest = stripped[j + 1:].strip()
            out += ["", ".. rubric:: " + _inline(title), ""]
            if rest:
                out.append(_inline(rest))
        elif stripped.startswith(("\\documentclass", "\\usepackage", "\\allowdisplaybreaks",
                                  "\\title", "\\author", "\\date", "\\begin{document}",
                                  "\\end{document}", "\\maketitle", "\\input")):
            pass
        elif not stripped:
            out.append("")
        else:
            out.append(_inline(stripped).strip())
        i += 1
    return out


class DerivationsDirective(SphinxDirective):
    """``.. eoc-derivations::`` with ``:preamble:`` or ``:family: STEM``."""

    has_content = False
    option_spec = {"preamble": directives.flag, "family": directives.unchanged,
                   "heading": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from eoctheory.latex import DERIVATION_FAMILIES, derivation_section, derivations_main

        heading = self.options.get("heading", "-")
        if "preamble" in self.options:
            tex = derivations_main()
            tex = tex.split("\\maketitle", 1)[1].split("\\input", 1)[0]
            rst = latex_to_rst(tex, heading)
        else:
            stems = [self.options["family"]] if "family" in self.options \
                else list(DERIVATION_FAMILIES)
            rst = []
            for stem in stems:
                if stem not in DERIVATION_FAMILIES:
                    raise self.error(f"unknown family {stem!r}; known: "
                                     f"{', '.join(DERIVATION_FAMILIES)}")
                rst += latex_to_rst(derivation_section(DERIVATION_FAMILIES[stem]), heading)
        node = nodes.Element()
        nested_parse_with_titles(self.state, StringList(rst, source="eoctheory.latex"), node)
        return node.children


# --------------------------------------------------------------------------- API pages
def _title(text: str, char: str = "=") -> list[str]:
    return [text, char * len(text), ""]


def _public_submodules(pkg) -> list[str]:
    names = []
    for info in pkgutil.iter_modules(pkg.__path__):
        name = f"{pkg.__name__}.{info.name}"
        if info.name.startswith("_") or name in API_SKIP:
            continue
        names.append(name)
    return names


def _autosummary(module: str, names: list[str]) -> list[str]:
    if not names:
        return []
    return [f".. currentmodule:: {module}", "", ".. autosummary::", "   :nosignatures:", ""] + \
        [f"   {n}" for n in names] + [""]


def _home(package, name: str) -> str:
    """The module that defines (and documents) the constant ``package.name``."""
    obj = getattr(package, name)
    for mod_name, mod in sorted(sys.modules.items()):
        if mod_name.startswith(package.__name__ + ".") and name in getattr(mod, "__all__", ()) \
                and getattr(mod, name, None) is obj and mod_name not in API_SKIP:
            return mod_name
    return package.__name__


def write_api_pages(outdir: str | Path) -> list[str]:
    """Write the API reference pages into ``outdir``; returns their names (no suffix)."""
    import eoctheory

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    pages: dict[str, list[str]] = {}

    # top level: the names of eoctheory.__all__ that are not modules
    import types

    def kind(n):
        obj = getattr(eoctheory, n)
        if isinstance(obj, types.ModuleType):
            return "module"
        return "callable" if callable(obj) and hasattr(obj, "__module__") \
            and getattr(obj, "__qualname__", None) else "data"

    top = [n for n in eoctheory.__all__ if kind(n) == "callable"]
    data = [n for n in eoctheory.__all__ if kind(n) == "data" and n != "__version__"]
    mods = [n for n in eoctheory.__all__ if kind(n) == "module"]
    lines = _title("eoctheory (top level)")
    lines += [".. automodule:: eoctheory", "   :no-members:", ""]
    lines += ["The names of ``eoctheory.__all__``, re-exported from the subpackages below.", ""]
    lines += [".. currentmodule:: eoctheory", "", ".. autosummary::", "   :toctree: ../generated",
              "   :nosignatures:", ""] + [f"   {n}" for n in top] + [""]
    if data:
        lines += ["Constants: " + ", ".join(
            f":data:`{n} <{_home(eoctheory, n)}.{n}>`" for n in data) + ".", ""]
    if mods:
        lines += ["Modules re-exported as attributes: " + ", ".join(
            f":mod:`eoctheory.{n} <{getattr(eoctheory, n).__name__}>`" for n in mods) + ".", ""]
    for info in pkgutil.iter_modules(eoctheory.__path__):  # top-level modules (files, limits)
        if info.ispkg or info.name.startswith("_"):
            continue
        lines += _title(f"eoctheory.{info.name}", "-")
        lines += [f".. automodule:: eoctheory.{info.name}", "   :members:", ""]
    pages["eoctheory"] = lines

    for short in API_PACKAGES:
        name = f"eoctheory.{short}"
        pkg = importlib.import_module(name)
        lines = _title(name)
        lines += [f".. automodule:: {name}", "   :no-members:", ""]
        lines += _autosummary(name, list(getattr(pkg, "__all__", [])))
        for sub in _public_submodules(pkg):
            mod = importlib.import_module(sub)
            if getattr(mod, "__all__", None) is None and short not in ("figures", "cli"):
                continue
            lines += _title(sub, "-")
            lines += [f".. automodule:: {sub}", "   :members:", ""]
        pages[short] = lines

    for page, lines in pages.items():
        text = "\n".join(lines) + "\n"
        path = outdir / f"{page}.rst"
        if not path.is_file() or path.read_text() != text:  # unchanged: keep the mtime
            path.write_text(text)
    return list(pages)


# --------------------------------------------------------------------------- command output
class RunDirective(SphinxDirective):
    """``.. eoc-run:: check crelu --sparsity 0.85``: the command and what it prints.

    Runs ``python -m eoctheory ARGS`` in this process at build time (``figures ARGS`` runs
    ``python -m eoctheory.figures ARGS``) and shows a console block with the command, its
    stdout and, when it is not 0, ``echo $?``. ``:exit: N`` states the expected exit code (a
    different one fails the build); ``:lines: N`` keeps the first N lines; ``:math:`` also
    typesets each printed line as display math (for ``latex``).
    """

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"exit": directives.nonnegative_int, "lines": directives.positive_int,
                   "math": directives.flag}

    def run(self) -> list[nodes.Node]:
        import contextlib
        import io
        import shlex

        argv = shlex.split(self.arguments[0])
        if argv[0] == "figures":
            from eoctheory.figures.__main__ import main
            argv, shown = argv[1:], "python -m eoctheory.figures"
        else:
            from eoctheory.cli.main import main
            shown = "python -m eoctheory"
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        expected = self.options.get("exit", 0)
        if code != expected:
            raise self.error(f"eoc-run {self.arguments[0]!r} exited {code}, expected "
                             f"{expected}: {err.getvalue().strip()}")
        text = out.getvalue().rstrip("\n").splitlines()
        if "lines" in self.options and len(text) > self.options["lines"]:
            text = text[:self.options["lines"]] + ["..."]
        cmd = " ".join([shown] + [shlex.quote(a) for a in argv])
        body = [f"$ {cmd}"] + text + ([f"$ echo $?", str(code)] if code else [])
        block = nodes.literal_block("\n".join(body), "\n".join(body))
        block["language"] = "console"
        if "math" not in self.options:
            return [block]
        para = nodes.paragraph(text="which renders as")
        maths = [nodes.math_block(line, line, nowrap=False, number=None, docname=self.env.docname)
                 for line in text if line.strip()]
        return [block, para, *maths]


# --------------------------------------------------------------------------- CLI reference
class ArgparseDirective(SphinxDirective):
    """``.. eoc-argparse:: module:function``: the reference of an argparse parser.

    Calls ``function()`` (it returns the parser) and writes, for the parser and each
    sub-command: the usage line, the description, every option with its help text (as
    ``--help`` expands it) and the epilog. Help texts are shown as plain text, never parsed
    as reStructuredText, so what ``--help`` prints is what the page says. ``:prog:`` names
    the program in the usage lines.
    """

    required_arguments = 1
    option_spec = {"prog": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        import argparse

        module, _, func = self.arguments[0].partition(":")
        parser = getattr(importlib.import_module(module), func)()
        if "prog" in self.options:
            parser.prog = self.options["prog"]
        out: list[nodes.Node] = self._parser_nodes(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    sub.prog = f"{parser.prog} {name}"
                    sec = nodes.section(ids=[nodes.make_id(f"cli-{parser.prog}-{name}")])
                    sec += nodes.title(text=name)
                    if helps.get(name):
                        sec += nodes.paragraph(text=helps[name])
                    sec.extend(self._parser_nodes(sub, description=False))
                    out.append(sec)
        return out

    def _parser_nodes(self, parser, description: bool = True) -> list[nodes.Node]:
        import argparse

        res: list[nodes.Node] = []
        usage = parser.format_usage().strip()
        res.append(nodes.literal_block(usage, usage, language="none"))
        if description and parser.description:
            res.append(nodes.paragraph(text=parser.description))
        formatter = parser._get_formatter()
        dl = nodes.definition_list()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if action.help == argparse.SUPPRESS:
                continue
            if action.option_strings:
                meta = "" if action.nargs == 0 else " " + formatter._format_args(
                    action, formatter._get_default_metavar_for_optional(action))
                term_text = ", ".join(o + meta for o in action.option_strings)
            else:
                term_text = formatter._format_args(
                    action, formatter._get_default_metavar_for_positional(action))
            item = nodes.definition_list_item()
            term = nodes.term()
            term += nodes.literal(term_text, term_text)
            item += term
            definition = nodes.definition()
            help_text = formatter._expand_help(action) if action.help else ""
            if action.choices is not None and not isinstance(action.choices, dict):
                choices = ", ".join(map(str, action.choices))
                if choices not in help_text:
                    help_text += f" (one of: {choices})"
            definition += nodes.paragraph(text=" ".join(help_text.split()))
            item += definition
            dl += item
        res.append(dl)
        if parser.epilog:
            res.append(nodes.literal_block(parser.epilog, parser.epilog, language="none"))
        return res


# --------------------------------------------------------------------------- gallery figures
_SEEN_FIGURES: dict[str, set[int]] = {}


def figure_scraper(block, block_vars, gallery_conf):
    """sphinx-gallery image scraper for :class:`matplotlib.figure.Figure` objects made
    without pyplot (as :mod:`eoctheory.figures` makes them).

    After each code block, every such figure held by a name of the example that has not
    been shown yet is saved and shown; figures managed by pyplot are left to the matplotlib
    scraper, which runs after this one.
    """
    from matplotlib import _pylab_helpers
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    seen = _SEEN_FIGURES.setdefault(block_vars["src_file"], set())
    managed = {id(m.canvas.figure) for m in _pylab_helpers.Gcf.get_all_fig_managers()}
    paths = []
    for obj in list(block_vars["example_globals"].values()):
        if not isinstance(obj, Figure) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if id(obj) in managed:
            continue
        path = next(block_vars["image_path_iterator"])
        obj.savefig(path, dpi=gallery_conf.get("eoc_dpi", 100))
        paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])


def setup(app):
    app.add_directive("eoc-derivations", DerivationsDirective)
    app.add_directive("eoc-run", RunDirective)
    app.add_directive("eoc-argparse", ArgparseDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
