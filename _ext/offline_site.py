"""A local Sphinx extension: the built site requests nothing from other hosts.

Jupyter Book 1 always loads ``sphinx_thebe``, which puts a ``const THEBE_JS_URL = "https://unpkg..."``
script and ``sphinx-thebe.js`` on every page (twice per page with Sphinx 7.4, hence a
"THEBE_JS_URL has already been declared" error in the browser console).  The book has no
launch buttons -- readers run the notebooks locally -- so the thebe assets are dropped from
every page.  MathJax is served from the site by ``sphinx-mathjax-offline``.
"""

from __future__ import annotations


def _is_thebe(asset) -> bool:
    text = (asset.filename or "") + str(asset.attributes.get("body", ""))
    return "thebe" in text.lower()


def drop_thebe_assets(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe(a)]


def setup(app):
    app.connect("html-page-context", drop_thebe_assets, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
