"""Build the book: the full course, the student edition, or a few chapters for a quick check.

``make book``, ``make book-student`` and the browser test call this script; it is the one place that knows how
the execution cache is kept honest and how the editions differ.

The execution cache. ``_config.yml`` sets ``execute_notebooks: cache``: jupyter-cache stores each chapter's
outputs keyed by the chapter's code cells, so a prose edit re-executes nothing and a code edit re-executes that
chapter only. jupyter-cache cannot see what the code *imports* or the budget it runs at, so this script keys the
whole cache by ``ATTNLIB_BUDGET``, every file of ``attnlib/`` and ``pyproject.toml``, and empties it when that key
changes. (The chapters' figures in ``results/`` are written by the same executions, so they stay in step.)

Usage::

    python tools/build_book.py                       # the full book at $ATTNLIB_BUDGET (default book)
    python tools/build_book.py --student             # the same pages, every solution hidden
    python tools/build_book.py --chapters 02_ram --budget smoke --out /tmp/minibook
                                                      # execute one chapter, render the rest unexecuted

With ``--chapters`` the other chapters are rendered without execution (their glued figures are missing, so
their warnings are not reported); warnings from the chosen chapters and from every non-chapter page are.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = ("smoke", "book", "paper")


def chapter_names() -> list[str]:
    """The chapters, as notebook stems in book order (``01_foundations``, ...)."""
    return sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cache_key(budget: str) -> str:
    """What the executed outputs depend on beyond the notebooks' own code cells."""
    digest = hashlib.sha256(f"budget={budget}\n".encode())
    for path in sorted([*(ROOT / "attnlib").rglob("*.py"), ROOT / "pyproject.toml"]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def refresh_cache(cache: Path, budget: str) -> bool:
    """Empty ``cache`` when its key changed; True when it was emptied."""
    key_file = cache.with_name(cache.name + ".key")
    key = cache_key(budget)
    if key_file.exists() and key_file.read_text().strip() == key:
        return False
    shutil.rmtree(cache, ignore_errors=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    return True


def write_config(out: Path, *, student: bool, execute_only: list[str] | None, cache: Path) -> Path:
    """The book's ``_config.yml`` with this build's changes, written under ``out``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["cache"] = str(cache)
    # paths that jupyter-book resolves against the config file's folder, which is not the book's root here
    extensions = config.get("sphinx", {}).get("local_extensions") or {}
    for name, folder in extensions.items():
        extensions[name] = str(ROOT / folder)
    if execute_only is not None:
        skipped = [name for name in chapter_names() if name not in execute_only]
        config["execute"]["exclude_patterns"] = [f"notebooks/{name}.ipynb" for name in skipped]
    if student:
        config["title"] = config["title"] + " (student edition)"
        config.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    path = out / "_config.generated.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def reported(warnings: str, skipped: list[str]) -> list[str]:
    """Warning lines, less those from chapters rendered without execution."""
    lines = [line for line in warnings.splitlines() if re.search(r"(WARNING|ERROR|CRITICAL):", line)]
    return [line for line in lines if not any(f"notebooks/{name}." in line for name in skipped)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default=os.environ.get("ATTNLIB_BUDGET", "book"), choices=BUDGETS)
    parser.add_argument("--student", action="store_true", help="hide every solution (the student edition)")
    parser.add_argument(
        "--chapters", nargs="+", metavar="STEM", help="execute only these chapters (01_foundations, ...)"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: _build, _build/student)")
    parser.add_argument("--strict", action="store_true", help="fail on any reported warning (-W -n)")
    args = parser.parse_args(argv)

    known = chapter_names()
    for name in args.chapters or []:
        if name not in known:
            parser.error(f"--chapters: no chapter {name!r}; the chapters are {', '.join(known)}")
    out = (args.out or (ROOT / ("_build/student" if args.student else "_build"))).resolve()
    # one cache per budget, shared by both editions: the student edition executes nothing the full one has run
    cache = (ROOT / "_build" if args.out is None else out) / f".jupyter_cache-{args.budget}"
    if refresh_cache(cache, args.budget):
        print(f"build_book: execution cache {cache} is new or stale (attnlib/, pyproject.toml or budget changed)")
    config = write_config(out, student=args.student, execute_only=args.chapters, cache=cache)
    # jupyter-book puts the HTML in <path-output>/_build/html; the default build keeps the usual _build/html
    path_output = ROOT if args.out is None and not args.student else out
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(ROOT),
        "--path-output",
        str(path_output),
        "--config",
        str(config),
        "-n",
        "--keep-going",
    ]
    env = {**os.environ, "ATTNLIB_BUDGET": args.budget}
    # stream the build (execution takes minutes per chapter at the `book` budget) and keep the whole log
    lines = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if not line.startswith("[IPKernelApp]"):  # the kernel's notice about TCP transport, once per chapter
                print(line, end="", flush=True)
    log = "".join(lines)
    (out / "build.log").write_text(log)
    skipped = [name for name in known if args.chapters and name not in args.chapters]
    problems = reported(log, skipped)
    html = path_output / "_build" / "html"
    executed = len(re.findall(r"Executed notebook in ", log))
    print(
        f"build_book: {html}/index.html; {executed} chapter(s) executed; {len(problems)} warning(s); log {out / 'build.log'}"
    )
    for line in problems:
        print("  " + line)
    if process.returncode != 0 and not problems:
        print(log[-4000:])
        return process.returncode
    return 1 if (args.strict and problems) else 0


if __name__ == "__main__":
    sys.exit(main())
