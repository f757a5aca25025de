"""Small fixes to the HTML pages, so the built book loads cleanly offline (no console errors).

- sphinx-thebe adds its configuration script each time Sphinx re-reads documents, so an incremental build
  declares ``const THEBE_JS_URL`` twice and the browser reports a SyntaxError on every page. Identical inline
  scripts are dropped here, keeping the first.
"""

from __future__ import annotations

from typing import Any


def _drop_duplicate_scripts(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # an inline script has filename None or "" depending on how it was added
        key = (
            getattr(script, "filename", str(script)) or "",
            tuple(sorted((k, str(v)) for k, v in attributes.items())),
        )
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    # in place: handlers that run later (sphinx.ext.mathjax adds its scripts per page) append to this same list
    scripts[:] = unique


def setup(app) -> dict[str, Any]:
    # early: a theme's handler that returns a template name ends the event (Sphinx emits it firstresult)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
