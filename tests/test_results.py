"""Recorded results and the tables generated from them."""

import json
from pathlib import Path

import pytest

from attnlib import results

ROOT = Path(__file__).resolve().parents[1]


def test_record_writes_and_replaces(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLIB_BUDGET", "book")
    results.record("02_ram", "28x28 test error", 3.5, unit="%", paper="1.29", goal="<= 3 %", met=False)
    results.record("02_ram", "28x28 test error", 2.5, unit="%", paper="1.29", goal="<= 3 %", met=True)
    entries = json.loads((tmp_path / "book" / "02_ram.json").read_text())
    assert len(entries) == 1 and entries[0]["value"] == 2.5 and entries[0]["budget"] == "book"
    table = results.markdown_table(results.load("book", tmp_path))
    assert "| 02_ram | 28x28 test error | 2.5 % | 1.29 | <= 3 % | yes | book |" in table


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"chapter": "ram", "quantity": "x", "value": 1.0}, "chapter"),
        ({"chapter": "02_ram", "quantity": "", "value": 1.0}, "quantity"),
        ({"chapter": "02_ram", "quantity": "x", "value": float("nan")}, "finite"),
        ({"chapter": "02_ram", "quantity": "x"}, "exactly one"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "values": [1.0, 2.0]}, "exactly one"),
        ({"chapter": "02_ram", "quantity": "x", "values": []}, "at least one"),
        ({"chapter": "02_ram", "quantity": "x", "values": [1.0, float("inf")]}, "finite"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "met": "yes"}, "met"),
        ({"chapter": 2, "quantity": "x", "value": 1.0}, "chapter"),
        ({"chapter": "02_ram", "quantity": ["x"], "value": 1.0}, "quantity"),
        ({"chapter": "02_ram", "quantity": "x", "value": "1.5"}, "value"),
        ({"chapter": "02_ram", "quantity": "x", "value": True}, "value"),
        ({"chapter": "02_ram", "quantity": "x", "value": [1.0]}, "value"),
        ({"chapter": "02_ram", "quantity": "x", "values": "123"}, "values"),
        ({"chapter": "02_ram", "quantity": "x", "values": [1.0, "a"]}, "values"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "unit": None}, "unit"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "paper": 1.29}, "paper"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "goal": 3}, "goal"),
        ({"chapter": "02_ram", "quantity": "x", "value": 1.0, "data": None}, "data"),
    ],
)
def test_record_refuses_bad_input(tmp_path, monkeypatch, kwargs, match):
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=match):
        results.record(**kwargs)


def test_record_per_seed_values_stores_mean_std_n_and_shows_them(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLIB_BUDGET", "book")
    entry = results.record("05_show_attend_tell", "hard exact match", values=[81.0, 83.0, 85.0], unit="%")
    assert entry["value"] == 83.0 and entry["std"] == 2.0 and entry["n"] == 3 and entry["values"] == [81, 83, 85]
    table = results.markdown_table(results.load("book", tmp_path))
    assert "| hard exact match | 83 ± 2 % (n = 3) |" in table
    from IPython.lib.pretty import pretty

    assert pretty(entry) == "recorded: hard exact match = 83 ± 2 % (n = 3)"  # what a notebook cell shows


def test_readme_block_is_replaced(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{results.README_START}\nold\n{results.README_END}\nrest\n")
    assert results.update_readme(readme, "| new |\n")
    assert readme.read_text() == f"intro\n{results.README_START}\n| new |\n{results.README_END}\nrest\n"
    assert not results.update_readme(readme, "| new |\n")


def test_committed_tables_match_committed_results():
    """The README and the results page show exactly what results/book holds: nothing typed by hand."""
    table = results.markdown_table(results.load("book", ROOT / "results"))
    readme = (ROOT / "README.md").read_text()
    assert f"{results.README_START}\n{table}{results.README_END}" in readme, "run `python -m attnlib.results`"
    page = (ROOT / "book" / "_generated" / "results_table.md").read_text()
    assert table in page


def test_glue_refuses_a_bad_name_and_is_a_no_op_outside_a_book(monkeypatch):
    import sys

    with pytest.raises(ValueError, match="name"):
        results.glue("", 1.0)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as on Colab without the book extra
    assert results.glue("accuracy", 91.5, display=False) is None


def test_glue_shows_a_figure_once_with_or_without_the_book(monkeypatch):
    """Outside the book the figure is still displayed; a displayed figure is closed so Jupyter does not redraw it."""
    import sys

    import IPython.display
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda value: shown.append(value))
    monkeypatch.setitem(sys.modules, "myst_nb", None)
    fig = plt.figure()
    results.glue("fig-x", fig)
    assert shown == [fig] and not plt.fignum_exists(fig.number)
    kept = plt.figure()
    results.glue("fig-y", kept, display=False)
    assert shown == [fig] and plt.fignum_exists(kept.number), "display=False shows nothing and leaves it open"
    plt.close(kept)


def _results_bad(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no block here")
    return [
        (lambda: results.load("books", tmp_path), "budget_name"),
        (lambda: results.load("book", 3), "root"),
        (lambda: results.markdown_table([{"quantity": "x", "value": 1.0}]), "results"),
        (lambda: results.markdown_table({"02_ram": {"quantity": "x"}}), "results"),
        (lambda: results.markdown_table({"02_ram": [{"value": 1.0}]}), "quantity"),
        (lambda: results.markdown_table({"02_ram": [{"quantity": "x", "value": "1"}]}), "value"),
        (lambda: results.markdown_table({"02_ram": [{"quantity": "x", "value": 1, "met": "yes"}]}), "met"),
        (lambda: results.update_readme(tmp_path / "missing.md", "table"), "readme"),
        (lambda: results.update_readme(readme, ["table"]), "table"),
        (lambda: results.update_readme(readme, "table"), "results block"),
        (lambda: results.update_readme(str(readme).encode(), "table"), "readme"),
        (lambda: results.glue("x", 1.0, display="yes"), "display"),
        (lambda: results.glue(3, 1.0), "name"),
        (lambda: results.results_dir("fast"), "budget_name"),
    ]


@pytest.mark.parametrize("case", range(14))
def test_results_refuse_bad_input(tmp_path, case):
    call, name = _results_bad(tmp_path)[case]
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "not a readable results file"),
        ('[{"quantity": "x", "value": 1.0', "not a readable results file"),
        ('{"quantity": "x"}', "must hold a list of entries"),
        ('[{"quantity": "x"}]', "entry 0 has no key 'value'"),
        ('["x"]', "entry 0 must be a dict"),
    ],
)
def test_corrupt_results_file_is_named(tmp_path, monkeypatch, content, match):
    """A corrupt, truncated, empty or malformed chapter file is a ValueError naming it, for load and record."""
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLIB_BUDGET", "book")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "02_ram.json").write_text(content)
    with pytest.raises(ValueError, match=f"02_ram.json.*{match}|{match}"):
        results.load("book", tmp_path)
    with pytest.raises(ValueError, match="02_ram.json"):
        results.record("02_ram", "y", 1.0)


def test_start_forgets_the_last_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLIB_BUDGET", "book")
    results.record("05_show_attend_tell", "an old name", 1.0)
    results.start("05_show_attend_tell")
    results.record("05_show_attend_tell", "a new name", 2.0)
    assert [e["quantity"] for e in results.load("book", tmp_path)["05_show_attend_tell"]] == ["a new name"]
    results.start("06_adahan")  # nothing recorded yet: nothing to forget
    with pytest.raises(ValueError, match="chapter"):
        results.start("adahan")


def test_capped_runs_record_apart_from_the_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLIB_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTNLIB_BUDGET", "paper")
    monkeypatch.setenv("ATTNLIB_MAX_STEPS", "2")
    assert results.results_dir() == tmp_path / "paper-capped"
    assert results.results_dir("paper") == tmp_path / "paper"
    results.record("02_ram", "x", 1.0)
    assert (tmp_path / "paper-capped" / "02_ram.json").is_file() and results.load("paper") == {}


def test_results_fall_back_to_a_local_folder_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("ATTNLIB_RESULTS_DIR", raising=False)
    monkeypatch.delenv("ATTNLIB_MAX_STEPS", raising=False)
    monkeypatch.delenv("ATTNLIB_MAX_SAMPLES", raising=False)
    monkeypatch.setenv("ATTNLIB_BUDGET", "smoke")
    monkeypatch.chdir(tmp_path)
    assert results.results_dir() == tmp_path / "attnlib_results" / "smoke"
