"""The book builds with zero warnings (`-W`).

Notebooks are executed by nbmake in the same `make test` run, so this build turns execution off
and checks everything else: configuration, table of contents, cross-references, equation labels,
citations and the bibliography. `make book` builds with execution at the `book` budget.
"""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_book_builds_without_warnings(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    # Without execution there are no glued numbers to find; `make book` executes and checks them under -W.
    config["sphinx"]["config"]["suppress_warnings"] = [*config["sphinx"]["config"]["suppress_warnings"], "mystnb.glue"]
    config_path = tmp_path / "_config.yml"
    config_path.write_text(yaml.safe_dump(config))
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [
            str(jb),
            "build",
            str(ROOT),
            "--config",
            str(config_path),
            "--path-output",
            str(tmp_path),
            "-W",
            "-n",
            "--keep-going",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "ATTNLIB_BUDGET": "smoke"},
        timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert (tmp_path / "_build" / "html" / "notebooks" / "01_foundations.html").exists()


def test_config_names_repository_once_and_launches_colab():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["execute"]["execute_notebooks"] == "force" and config["execute"]["allow_errors"] is False
    assert config["execute"]["timeout"] >= 600
    bib = (ROOT / "book" / "references.bib").read_text()
    for key in (
        "mnih2014ram",
        "xu2015show",
        "malinowski2018learning",
        "chen2018a2nets",
        "miao2022selfpaced",
        "lee2016recursive",
    ):
        assert f"{{{key}," in bib


def test_every_module_has_an_api_page():
    import pkgutil

    import attnlib

    pages = {p.stem for p in (ROOT / "book" / "api").glob("*.md")}
    toc = (ROOT / "_toc.yml").read_text()
    for module in pkgutil.walk_packages(attnlib.__path__, "attnlib."):
        parts = module.name.split(".")[1:]
        if len(parts) > 1 and parts[0] != "data":
            continue  # subpackage modules are documented on their package's page
        if parts == ["data"]:
            continue
        page = "_".join(parts)
        assert page in pages, f"{module.name} has no page in book/api/"
        assert f"book/api/{page}" in toc, f"book/api/{page} is not in _toc.yml"
