"""Every chapter at the `paper` budget, capped: the paper's model sizes, data pipeline (full MNIST through
torchvision, read from a small IDX fixture), evaluation and plots run on the CPU, with at most
ATTNLIB_MAX_STEPS optimiser steps per training run and ATTNLIB_MAX_SAMPLES samples per data split.

A chapter that breaks at the `paper` budget fails here, in `make test`, rather than on a reader's GPU.
Nothing downloads: the MNIST files are written by the test (conftest.write_mnist_idx).
"""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: the caps of the dry run: one step per training run (the smoke budget also trains one epoch) and 128 samples
#: per split (RAM's policy-gradient variance needs two batches of 64)
MAX_STEPS, MAX_SAMPLES = 1, 128


def _text(nb: nbformat.NotebookNode) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_at_paper_budget_capped(notebook, tmp_path, mnist_idx_root):
    env = dict(os.environ)
    env.update(
        ATTNLIB_BUDGET="paper",
        ATTNLIB_MAX_STEPS=str(MAX_STEPS),
        ATTNLIB_MAX_SAMPLES=str(MAX_SAMPLES),
        ATTNLIB_DATA_DIR=str(mnist_idx_root),
        ATTNLIB_RESULTS_DIR=str(tmp_path / "results"),
        ATTNLIB_PROGRESS="0",
        MPLBACKEND="Agg",
    )
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
    )
    client.execute(env=env)
    shown = _text(nb)
    assert "budget: paper" in shown and "DRY RUN" in shown, "the chapter must announce the capped paper budget"
    recorded = list((tmp_path / "results" / "paper-capped").glob("*.json"))
    assert [p.stem for p in recorded] == [notebook.stem], "a capped run records under <budget>-capped only"
    assert json.loads(recorded[0].read_text()), "the chapter recorded no figure"
    assert not (tmp_path / "results" / "paper").exists()
