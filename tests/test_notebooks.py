"""The notebooks as files: pairs agree, no outputs committed, the conventions every chapter follows.

Executing them is nbmake's job (`make test` runs every notebook at the smoke budget).
"""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPO_URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_source_has_its_pair_and_back():
    assert SOURCES, "no chapter sources found"
    assert [p.stem for p in SOURCES] == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_agrees(source):
    from_py = jupytext.read(source)
    from_ipynb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _cells(from_py) == _cells(from_ipynb), f"{source.name} and its .ipynb differ: run `make sync`"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{notebook.name} carries outputs in cells {dirty}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_conventions(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown" and re.match(r"\(ch-[a-z0-9-]+\)=\n# ", first), (
        "the first cell is the chapter's label, (ch-name)=, then its title; the book numbers the chapter"
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0]
    assert "colab-setup" in setup.metadata.get("tags", []), "first code cell must be the Colab set-up cell"
    assert "remove-cell" in setup.metadata.get("tags", []), "the Colab set-up cell is kept out of the HTML"
    assert REPO_URL in setup.source, "the set-up cell must install from the repository named in _config.yml"
    assert "budget.announce(" in code[1].source, "the second code cell must announce budget, device and data"


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_book_numbers_headings_and_figures(notebook):
    """Issue 17, item 1: no typed numbers in headings; figures captioned and referenced by number."""
    nb = nbformat.read(notebook, as_version=4)
    text = _markdown(nb)
    typed = re.findall(r"^#{1,4} (?:Chapter \d+|\d+[a-z]?[.)] ).*$", text, flags=re.M)
    assert not typed, f"headings with typed numbers (the book numbers them): {typed[:3]}"
    figures = re.findall(r"```\{glue:figure\} (\S+)\n:name: (\S+)", text)
    assert len(figures) >= 2, "figures that carry an argument are captioned and numbered ({glue:figure} with :name:)"
    # (a figure whose key is never glued fails the build itself: tests/test_book_build.py)
    referenced = {name for _, name in figures if f"<{name}>`" in text or f"`{name}`" in text}
    assert referenced, "the text refers to its figures by number ({numref})"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_numbered_with_one_solution_each_and_checkers(notebook):
    """Issue 17, items 3 and 4: sphinx-exercise blocks, a solution for each, two coding exercises with checkers."""
    nb = nbformat.read(notebook, as_version=4)
    text = _markdown(nb)
    labels = re.findall(r"```\{exercise(?:-start)?\}[^\n]*\n:label: (\S+)", text)
    assert len(labels) >= 2, "exercises are sphinx-exercise blocks with labels"
    for label in labels:
        solutions = re.findall(r"```\{solution(?:-start)?\} " + re.escape(label) + r"\s*\n", text)
        assert len(solutions) == 1, f"exercise {label} needs exactly one solution block, found {len(solutions)}"
    assert "```{admonition} Solution" not in text, "solutions are sphinx-exercise solution blocks"
    checked = set(
        re.findall(
            r"attnlib\.exercises\.(\w+)|from attnlib\.exercises(?:\.(\w+))? import",
            "\n".join(c.source for c in nb.cells if c.cell_type == "code"),
        )
    )
    calls = re.findall(r"\bcheck_\w+\(", "\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    assert checked and len(set(calls)) >= 2, "at least two coding exercises call a checker from attnlib.exercises"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_reading_flow_and_kernel_free_interactive(notebook):
    """Issue 17, items 5 and 6: a kernel-free interactive, live widgets out of the HTML, highlighted code."""
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    sources = "\n".join(c.source for c in code)
    assert "animation_html(" in sources, "every chapter has a kernel-free interactive (viz.animation_html)"
    assert "to_jshtml(" not in sources, "viz.animation_html, not to_jshtml: matplotlib's player loads a CDN"
    assert "inspect.getsource" not in sources and "print(viz.source_code" not in sources, (
        "library code is shown highlighted with viz.show_code"
    )
    for cell in code:
        if re.search(r"\b(glimpse_explorer|interact|interactive)\(", cell.source):
            assert "remove-cell" in cell.metadata.get("tags", []), "live widgets stay out of the static HTML"


def _toc_files(entries):
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        yield from _toc_files(entry.get("chapters", []) + entry.get("sections", []))


def test_toc_lists_existing_files_and_every_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"], *_toc_files(toc.get("parts", []))]
    for name in files:
        assert any((ROOT / f"{name}{ext}").exists() for ext in (".md", ".ipynb")), f"_toc.yml lists missing {name}"
    listed = {f for f in files if f.startswith("notebooks/")}
    assert listed == {f"notebooks/{p.stem}" for p in NOTEBOOKS}, "every chapter notebook must be in _toc.yml"
