"""The book's configuration: repository, launch buttons, execution, bibliography, API pages.

The book itself is built (every chapter executed at the `smoke` budget, zero warnings) and opened in a browser
by `tests/test_book_build.py`.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_config_names_repository_once_and_launches_colab():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    # executed at build time through the cache that tools/build_book.py keys by library and budget
    assert config["execute"]["execute_notebooks"] == "cache" and config["execute"]["allow_errors"] is False
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
