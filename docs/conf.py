"""Sphinx configuration: the guide pages are Markdown (MyST), the API reference comes from the
docstrings (autodoc + napoleon for the numpydoc style). `make docs` builds with -W."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "nnx"
author = "the nnx developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_member_order = "bysource"
autodoc_typehints = "none"
myst_heading_anchors = 3
html_theme = "alabaster"
