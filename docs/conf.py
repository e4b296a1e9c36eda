"""Sphinx configuration of the pnpleaves documentation.

Build (from the repository root, after ``pip install -e ".[docs]"``)::

    sphinx-build -W -b html docs docs/_build/html

The gallery (``demos/demo_*.py``) is executed by sphinx-gallery in fast mode (``PNPLEAVES_FAST=1``)
unless ``PNPLEAVES_FAST=0`` is set in the environment. Generated sources (``auto_examples/``,
``api/generated/``, ``_generated/``, ``sg_execution_times.rst``) are build products, not committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

# The gallery runs in fast mode unless told otherwise; the examples read this variable.
os.environ.setdefault("PNPLEAVES_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pnpleaves  # noqa: E402
import pnpleaves_docs  # noqa: E402  (docs/_ext/pnpleaves_docs.py)

project = "pnpleaves"
author = "pnpleaves developers"
copyright = "pnpleaves developers (MIT licence)"
release = version = pnpleaves.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "pnpleaves_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "_generated/*.md"]  # _generated/*.md are included by index.md and labs.md
templates_path = ["api/_templates"]

# -- the pages written at build time (labs, the list of results pages) ---------------------------
pnpleaves_docs.write_generated_pages(DOCS)

# -- MyST (the markdown pages: results, history, the guide, the labs) ----------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4
myst_dmath_double_inline = True

# -- autodoc / autosummary (the API reference, from the docstrings) -----------------------------
API_MODULES = ["pnpleaves.generators", "pnpleaves.models", "pnpleaves.priors", "pnpleaves.training",
               "pnpleaves.restoration", "pnpleaves.sampling", "pnpleaves.analysis", "pnpleaves.metrics",
               "pnpleaves.images", "pnpleaves.io", "pnpleaves.errors"]
autosummary_context = {"reexports": pnpleaves_docs.reexports(API_MODULES)}
autosummary_generate = True
autosummary_ignore_module_all = False  # a subpackage's public API is its __all__
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_inherit_docstrings = False  # torch / deepinv docstrings are not ours
autodoc_mock_imports = ["bm3d"]  # optional dependency
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# -- sphinx-gallery (demos/ -> auto_examples/) ----------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "demos")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/demo_",  # execute every demo
    "ignore_pattern": r"(__init__|/labs/)",
    "within_subsection_order": "pnpleaves_docs.DemoOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("pnpleaves_docs.figures_scraper",),
    # an example that closes its figures after saving them still shows them on its page
    "reset_modules": ("matplotlib", "pnpleaves_docs.before_example"),
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "capture_repr": (),
    "min_reported_time": 1,
    "reference_url": {"pnpleaves": None},
    "doc_module": ("pnpleaves",),
    "backreferences_dir": None,
    "first_notebook_cell": None,
}

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"pnpleaves {version}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Plug-and-Play restoration with priors learned from synthetic images",
    "fixed_sidebar": True,
    "sidebar_collapse": True,
    "page_width": "1280px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False

# Warnings are errors in the documented build (-W). A link from a markdown page to another page
# that is not there (yet) is tolerated: the map in index.md lists results pages as they land.
nitpicky = False
nitpick_ignore_regex = [("myst", r"[^:/]+\.md(#.*)?")]
