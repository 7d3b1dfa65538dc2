"""Sphinx configuration of the eoctheory documentation.

Build (offline, warnings as errors, from the repository root)::

    pip install ".[docs,torch]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

then open ``docs/_build/html/index.html``.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import eoctheory  # noqa: E402
from eoc_docs import write_api_pages  # noqa: E402

project = "eoctheory"
author = "the eoctheory authors"
copyright = "the eoctheory authors"  # noqa: A001
release = eoctheory.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sphinx_design",
    "eoc_docs",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "**.ipynb_checkpoints"]
# The API pages are generated from the package's __all__ lists on every build (stubs of
# names that are gone would otherwise linger as orphan pages).
shutil.rmtree(DOCS / "api" / "generated", ignore_errors=True)
write_api_pages(DOCS / "api" / "gen")

# offline: no intersphinx (no network fetch at build time)
nitpicky = False
# The results' Markdown files link to each other for reading on a forge; those links are not
# pages of this site.
suppress_warnings = ["myst.xref_missing"]
# "--expr" stays "--expr" (no en dash) in help texts and prose.
smartquotes = False

# --- autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
# SymPy's own docstrings (inherited by the engine's sympy.Function subclasses) use an
# "Explanation" section that numpydoc does not know; they are not ours to change.
warnings.filterwarnings("ignore", message="Unknown section Explanation", category=UserWarning)

# --- sphinx-gallery: every docs/examples/plot_*.py runs at build time
sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": (),
    "backreferences_dir": None,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    # eoctheory.figures builds Figure objects without pyplot: eoc_docs shows those
    "image_scrapers": ("eoc_docs.figure_scraper", "matplotlib"),
    "reset_modules": ("matplotlib",),
    "only_warn_on_example_error": False,
    "show_memory": False,
    "min_reported_time": 1,
}

# --- myst (only for including the results' Markdown files)
myst_enable_extensions: list[str] = []
myst_heading_anchors = 0

# --- the CLI reference walks eoctheory.cli.main.build_parser at build time (eoc-argparse)

# --- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"eoctheory {release}"
html_static_path = ["_static"]
html_css_files = ["eoc.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# MathJax from a local copy when EOCTHEORY_MATHJAX names one (for viewing without a
# network); the default is Sphinx's CDN address, fetched by the browser, not the build.
if os.environ.get("EOCTHEORY_MATHJAX"):
    mathjax_path = os.environ["EOCTHEORY_MATHJAX"]
