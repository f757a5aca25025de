"""Small fixes to the built book: pages that load cleanly offline, and a student edition without solutions.

- With ``hide_solutions`` (``make book-student``) sphinx-exercise drops a *gated* solution's opening directive
  but keeps its code cells and its closing node, so the solution's code would still show and the writer warns
  about an unknown node. Here the opening directive leaves a marker instead, and a transform removes everything
  from the marker to the closing node.
- sphinx-thebe adds its configuration script each time Sphinx re-reads documents, so an incremental build
  declares ``const THEBE_JS_URL`` twice and the browser reports a SyntaxError on every page. Identical inline
  scripts are dropped here, keeping the first.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.transforms import SphinxTransform


class hidden_solution(nodes.Element):  # noqa: N801 (docutils names nodes in lower case)
    """Where a gated solution began whose content the student edition leaves out."""


def _hide_aware_solution_start():
    from sphinx_exercise.directive import SolutionStartDirective

    class HideAwareSolutionStart(SolutionStartDirective):
        def run(self):
            result = super().run()
            return [hidden_solution()] if self.env.app.config.hide_solutions else result

    return HideAwareSolutionStart


class DropHiddenSolutions(SphinxTransform):
    """Remove a hidden gated solution: its marker, the cells after it, and its closing node."""

    default_priority = 5  # before sphinx-exercise merges gated solutions (10)

    def apply(self) -> None:
        from sphinx_exercise.nodes import solution_end_node

        for marker in list(self.document.findall(hidden_solution)):
            parent = marker.parent
            start = parent.index(marker)
            siblings = parent.children
            end = next((k for k in range(start, len(siblings)) if isinstance(siblings[k], solution_end_node)), start)
            del parent.children[start : end + 1]


def _register_solution_start(app) -> None:
    # after every extension's setup, so this replaces sphinx-exercise's own directive
    app.add_directive("solution-start", _hide_aware_solution_start(), override=True)


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
    app.add_node(hidden_solution)
    app.add_transform(DropHiddenSolutions)
    app.connect("builder-inited", _register_solution_start)
    # early: a theme's handler that returns a template name ends the event (Sphinx emits it firstresult)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
