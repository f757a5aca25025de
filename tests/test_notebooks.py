"""The notebooks as files: pairs agree, no outputs committed, the conventions every chapter follows.

Executing them is nbmake's job (`make test` runs every notebook at the smoke budget).
"""

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
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Chapter")
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0]
    assert "colab-setup" in setup.metadata.get("tags", []), "first code cell must be the Colab set-up cell"
    assert REPO_URL in setup.source, "the set-up cell must install from the repository named in _config.yml"
    assert "budget.announce(" in code[1].source, "the second code cell must announce budget, device and data"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "```{admonition} Solution" in text and ":class: dropdown" in text, "exercises need hidden solutions"


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
