"""Run a chapter's reference solution in a test: the code cells of one gated solution block.

A coding exercise's reference solution is written once, in the chapter, between

    ```{solution-start} ex-label        (a markdown cell)
    ...code cells...
    ```{solution-end}                   (a markdown cell)

The build executes those cells (the page shows the checker passing them); the tests execute the same cells
through :func:`run_solution`, so the solution a student reads is the one the tests check. Solution cells are
self-contained: they import what they use.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import jupytext

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def solution_code(chapter: str, label: str) -> str:
    """The code cells of the gated solution to exercise ``label`` in ``notebooks/<chapter>.py``, joined."""
    notebook = jupytext.read(NOTEBOOKS / f"{chapter}.py")
    start = re.compile(r"\{solution-start\}\s+" + re.escape(label) + r"\s*$", re.M)
    inside, code = False, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            if not inside and start.search(cell.source):
                inside = True
            elif inside and "{solution-end}" in cell.source:
                return "\n\n".join(code)
        elif inside and cell.cell_type == "code":
            code.append(cell.source)
    raise LookupError(f"{chapter}: no gated solution block for {label!r} (solution-start ... solution-end)")


def run_solution(chapter: str, label: str) -> tuple[dict, str]:
    """Execute the solution's cells; return their namespace and what they printed."""
    namespace: dict = {"__name__": f"solution_{label.replace('-', '_')}"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(solution_code(chapter, label), f"<{chapter}:{label}>", "exec"), namespace)
    return namespace, printed.getvalue()
