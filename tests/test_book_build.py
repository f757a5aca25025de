"""The built book, tested as a reader meets it: in a real browser, offline (issue 17, items 3, 7 and 8).

One module-scoped build of the whole book at the ``smoke`` budget, from a copy of the repository, through
``tools/build_book.py`` (the same script ``make book`` uses). Then:

- the build reports no warning, and every chapter was executed once;
- a prose-only edit followed by a rebuild executes no chapter (the jupyter-cache) and shows the new prose;
- the student edition, built from the same cache, executes nothing and hides every solution;
- each chapter, opened in headless Chromium from a local server: equations typeset (no raw ``$$``), every
  image loaded, a kernel-free interactive whose frame changes when its "next frame" control is used, the
  launch button pointing at the chapter's own notebook, and no error in the console;
- every internal link of every chapter resolves to a page and an anchor that exist.

The browser part needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Where they are
missing the browser tests are skipped with that reason, unless ``ATTNLIB_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
which turns the skip into a failure.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SKIP_COPY = {".venv", ".git", "_build", ".ruff_cache", ".pytest_cache", "attnlib.egg-info", "results"}


def _build(tree: Path, *extra: str) -> tuple[int, str]:
    command = [sys.executable, str(tree / "tools" / "build_book.py"), "--budget", "smoke", "--strict", *extra]
    process = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=1800)
    return process.returncode, process.stdout + process.stderr


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> dict:
    """A copy of the repository with its book built at the smoke budget."""
    tree = tmp_path_factory.mktemp("book") / "course"
    shutil.copytree(ROOT, tree, ignore=lambda folder, names: [n for n in names if n in SKIP_COPY])
    code, summary = _build(tree)
    return {"tree": tree, "html": tree / "_build" / "html", "code": code, "summary": summary}


def _executed(summary: str) -> int:
    match = re.search(r"(\d+) chapter\(s\) executed; (\d+) warning", summary)
    assert match, summary
    return int(match.group(1))


def test_the_book_builds_without_warnings_executing_every_chapter(book):
    assert book["code"] == 0, book["summary"]
    assert "; 0 warning(s)" in book["summary"], book["summary"]
    assert _executed(book["summary"]) == len(CHAPTERS), book["summary"]


def test_a_prose_edit_executes_no_chapter(book):
    import nbformat

    tree = book["tree"]
    path = tree / "notebooks" / f"{CHAPTERS[0]}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
    first_markdown.source += "\n\nA sentence added to test the execution cache."
    nbformat.write(notebook, path)
    code, summary = _build(tree)
    assert code == 0, summary
    assert _executed(summary) == 0, summary
    page = (book["html"] / "notebooks" / f"{CHAPTERS[0]}.html").read_text()
    assert "A sentence added to test the execution cache." in page


def test_a_code_edit_executes_that_chapter_only(book):
    import nbformat

    tree = book["tree"]
    path = tree / "notebooks" / f"{CHAPTERS[0]}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("print('a code cell added to test the execution cache')"))
    nbformat.write(notebook, path)
    code, summary = _build(tree)
    assert code == 0, summary
    assert _executed(summary) == 1, summary


def _page_text(path: Path) -> str:
    """A page's text as a reader sees it: tags dropped (code is split into highlighting spans), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def _solution_only_lines(chapter: str) -> list[str]:
    """Lines of the chapter's gated solution code that appear in no other code cell (so must not be seen)."""
    import jupytext
    from exercise_cells import solution_code

    source = (ROOT / "notebooks" / f"{chapter}.py").read_text()
    labels = re.findall(r"\{solution-start\} (\S+)", source)
    solution = "\n".join(solution_code(chapter, label) for label in labels)
    other = {
        line.strip()
        for cell in jupytext.reads(source, fmt="py:percent").cells
        if cell.cell_type == "code" and cell.source not in solution
        for line in cell.source.splitlines()
    }
    return [line.strip() for line in solution.splitlines() if len(line.strip()) > 30 and line.strip() not in other]


def test_the_student_edition_hides_every_solution(book):
    full = [(book["html"] / "notebooks" / f"{name}.html").read_text() for name in CHAPTERS]
    assert all('class="solution' in page for page in full), "every chapter has solutions"
    code, summary = _build(book["tree"], "--student")
    assert code == 0, summary
    assert "; 0 warning(s)" in summary, summary
    assert _executed(summary) == 0, summary
    student = book["tree"] / "_build" / "student" / "_build" / "html" / "notebooks"
    for name in CHAPTERS:
        page = (student / f"{name}.html").read_text()
        assert 'class="solution' not in page, name
        assert 'class="exercise' in page, name
        # the code of gated solutions goes too, not only their text: it is in the full edition, not here
        hidden = _solution_only_lines(name)
        full_text, student_text = (
            _page_text(book["html"] / "notebooks" / f"{name}.html"),
            _page_text(student / f"{name}.html"),
        )
        shown = [line for line in hidden if line in full_text]
        assert shown, f"{name}: no solution code found in the full edition to check"
        # a line may also appear elsewhere on the page (a library function shown with show_code): it must appear
        # fewer times in the student edition
        leaked = [line for line in shown if student_text.count(line) >= full_text.count(line)]
        assert not leaked, f"{name}: solution code in the student edition: {leaked[:3]}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and "internal" in (attrs.get("class") or "") and attrs.get("href"):
            self.hrefs.append(attrs["href"])


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text())
    return parser


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_internal_links_resolve(book, chapter):
    page = book["html"] / "notebooks" / f"{chapter}.html"
    broken = []
    for href in _parse(page).hrefs:
        parts = urlsplit(href)
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            broken.append(href)
        elif parts.fragment and target.suffix == ".html" and parts.fragment not in _parse(target).ids:
            broken.append(href)
    assert not broken, f"{chapter}: links to pages or anchors that do not exist: {broken[:10]}"


# ---------------------------------------------------------------------------------------------------- browser


def _browser_or_skip():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = (
            "headless chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)"
        )
        if os.environ.get("ATTNLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(book):
    """The built HTML served on the loopback, and a headless browser."""
    browser = _browser_or_skip()
    handler = functools.partial(_QuietHandler, directory=str(book["html"]))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield browser, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_in_a_browser(site, chapter):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser, base = site
    browser.get_log("browser")  # drop messages from the previous page
    browser.get(f"{base}/notebooks/{chapter}.html")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda b: b.execute_script("return document.readyState") == "complete")

    # equations are typeset: MathJax containers present, no raw display-math delimiters left in the text
    wait.until(lambda b: b.execute_script("return document.querySelectorAll('mjx-container').length") > 0)
    wait.until(
        lambda b: b.execute_script("return document.querySelectorAll('.MathJax_Processing, mjx-merror').length") == 0
    )
    text = browser.execute_script("return document.querySelector('main').innerText")
    assert "$$" not in text, f"{chapter}: raw $$ left in the page"

    # every image loaded
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))"
    )
    assert not broken, f"{chapter}: images that did not load: {broken}"

    # a kernel-free interactive: a to_jshtml animation whose frame changes with its "next frame" button
    frames = browser.find_elements(By.CSS_SELECTOR, "img[id^='_anim_img']")
    assert frames, f"{chapter}: no kernel-free interactive (to_jshtml animation) on the page"
    frame = frames[0]
    player = frame.find_element(By.XPATH, "./ancestor::div[contains(@class, 'animation')][1]")
    browser.execute_script("arguments[0].scrollIntoView()", player)
    player.find_element(By.CSS_SELECTOR, "button[title='Pause']").click()
    before = frame.get_attribute("src")
    player.find_element(By.CSS_SELECTOR, "button[title='Next frame']").click()
    wait.until(lambda b: frame.get_attribute("src") != before)

    # the launch button opens this chapter's notebook
    launch = browser.execute_script(
        "return Array.from(document.querySelectorAll('a')).map(a => a.href).filter(h => h.includes('colab.research.google.com'))"
    )
    assert launch and all(href.endswith(f"notebooks/{chapter}.ipynb") for href in launch), (
        f"{chapter}: launch links {launch}"
    )

    # nothing went wrong in the console
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, f"{chapter}: console errors: {errors}"
