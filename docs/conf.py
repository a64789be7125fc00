"""Sphinx configuration of the particles documentation site (``docs/build.sh`` builds it).

Sphinx + MyST (the pages are markdown, so ``docs/papers.md``, ``benchmarks/RESULTS.md`` and
``figures/README.md`` are included as they are) + sphinx-gallery (``docs/examples/plot_*.py``, run
at build time) + autodoc/autosummary (the API reference, from the docstrings) + sphinx-click (the
command line reference, from the click commands) + pydata-sphinx-theme.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))  # the figures page generator (docs/_ext)
os.environ.setdefault("MPLBACKEND", "Agg")

from _ext.gallery_order import gallery_key  # noqa: E402
from sphinx_gallery.sorting import FunctionSortKey  # noqa: E402

import particles  # noqa: E402

project = "particles"
author = "the particles authors"
copyright = "the particles authors"
release = version = getattr(particles, "__version__", "0.1.0")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
    "_ext.api_pages",
    "_ext.figures_page",
    "_ext.docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "examples",
    "_ext",
    "**sg_execution_times.rst",
]
root_doc = "index"
highlight_language = "text"  # the docstrings' indented formulas; code fences name their language
suppress_warnings: list[str] = []

# MyST: markdown pages (no maths extension: the site loads nothing from the network); ::: fences; headings get anchors for in-page links
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc / autosummary: one page per module, members as listed in the module's __all__
autosummary_generate = False  # the pages are written by _ext.api_pages
autosummary_imported_members = False
autodoc_default_options: dict = {}  # the pages (docs/_ext/api_pages.py) name the members
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures show the annotations; no unresolved type links
autodoc_preserve_defaults = True
add_module_names = False
napoleon_google_docstring = False  # the few sectioned docstrings are numpydoc
napoleon_numpy_docstring = True

# sphinx-gallery: one short executed example per topic
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # the order of the user guide's topics
    "within_subsection_order": FunctionSortKey(gallery_key),
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "abort_on_example_error": True,
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # its page loads DataTables from a CDN; the site is offline
}

html_theme = "pydata_sphinx_theme"
html_title = "particles"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"index": [], "getting_started": [], "papers": [], "benchmarks": []}
html_context = {"default_mode": "light"}
html_show_sourcelink = False
html_copy_source = False
