"""The reader's path: the library installed without the development extras, the chapters run outside the tree.

A fresh virtual environment gets `attnlib` the way `pip install .` (and the chapters' Colab set-up cell,
`pip install git+<repository>`) gives it: a wheel built from the source, installed without the `dev`,
`test` or `book` extras. The chapters are copied to a folder outside the checkout and executed there at
the `smoke` budget; nothing may depend on the repository's layout (results fall back to
`./attnlib_results`, data and fonts come from the installed packages).

Offline, and without downloading torch again: the test cannot ask PyPI for the dependencies, so it builds
the wheel with `pip wheel --no-deps --no-build-isolation --no-index` (setuptools from the test
environment) and installs it with `pip --python <venv> install --no-deps --no-index`. The dependencies
come from the test environment, but only those `pyproject.toml` declares: their distributions, and those
they require in turn (read from the installed metadata), are linked one by one into the new
environment's site-packages, plus `ipykernel` and `nbclient` to run a notebook (what Colab provides).
Anything else (pytest, jupytext, jupyter-book, ruff, ...) is absent, and a chapter that imports it fails.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: what a Jupyter front end (Colab, a local Jupyter) provides to run a notebook, besides the library's needs
KERNEL = ("ipykernel", "nbclient")
#: development-only packages that must not be importable in the reader's environment
DEV_ONLY = ("pytest", "jupytext", "jupyter_book", "nbmake", "ruff")


def runtime_closure(roots: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions named by ``roots`` and everything they require (no extras), by name."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform (its marker holds here, the wheel is not needed)
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _link_distributions(dists: dict[str, metadata.Distribution], site: Path) -> None:
    """Symlink each distribution's top-level files (packages, modules, .dist-info) into ``site``."""
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            target, link = base / top, site / top
            if target.exists() and not link.exists():
                link.symlink_to(target)


@pytest.fixture(scope="session")
def reader_python(tmp_path_factory) -> Path:
    """The python of a fresh venv holding the installed wheel of attnlib and its declared dependencies only."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"  # a copy: building in the checkout would leave build/ and *.egg-info there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "attnlib", source / "attnlib", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(source)],
        check=True,
    )
    (wheel,) = (work / "dist").glob("attnlib-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    _link_distributions(runtime_closure([Requirement(r).name for r in declared] + list(KERNEL)), site)
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], check=True)
    return python


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment a reader's kernel sees: no PYTHONPATH into the checkout (the offline guard stays)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTNLIB_", "PYTHON", "VIRTUAL_ENV"))}
    guard = ROOT / "tests" / "offline_guard"
    if os.environ.get("ATTNLIB_BLOCK_NETWORK") == "1":
        env.update(PYTHONPATH=str(guard), ATTNLIB_BLOCK_NETWORK="1")
    env.update(MPLBACKEND="Agg", ATTNLIB_PROGRESS="0", **extra)
    return env


def test_reader_environment_holds_the_library_not_the_dev_tools(reader_python, tmp_path):
    probe = textwrap.dedent(
        f"""
        import importlib.util, attnlib, attnlib.data, attnlib.data.words
        print(attnlib.__file__)
        print(",".join(m for m in {DEV_ONLY!r} if importlib.util.find_spec(m) is not None))
        print(len(attnlib.data.words.font_paths()))
        """
    )
    out = subprocess.run(
        [str(reader_python), "-c", probe], cwd=tmp_path, env=_clean_env(), check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert Path(out[0]).is_relative_to(reader_python.parents[1]), f"attnlib imported from {out[0]}, not the venv"
    assert out[1] == "", f"development-only packages visible in the reader's environment: {out[1]}"
    assert int(out[2]) > 0, "the fonts for the word images must come from the installed packages"


RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
"""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_installed_outside_the_checkout(reader_python, notebook, tmp_path):
    course = tmp_path / "my_course"  # a reader's folder: no _config.yml, no attnlib/ source, no results/
    course.mkdir()
    shutil.copy(notebook, course / notebook.name)
    (course / "run_notebook.py").write_text(RUNNER)
    done = subprocess.run(
        [str(reader_python), "run_notebook.py", notebook.name],
        cwd=course,
        env=_clean_env(ATTNLIB_BUDGET="smoke"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"{notebook.name} failed when installed and run outside the tree:\n{done.stderr[-4000:]}"
    )
    recorded = course / "attnlib_results" / "smoke" / f"{notebook.stem}.json"
    assert recorded.is_file(), "results must fall back to ./attnlib_results outside the repository"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_cell_installs_the_package_with_the_dependencies_pyproject_declares(notebook):
    """The set-up cell installs the repository itself and nothing named by hand: its dependencies are then
    exactly `pyproject.toml`'s (no extras), the environment `test_chapter_runs_installed_outside_the_checkout`
    runs the chapters in."""
    import ast

    import nbformat
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    cell = next(c for c in nbformat.read(notebook, as_version=4).cells if "colab-setup" in c.metadata.get("tags", []))
    strings = {
        n.value for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    assert f"git+{repo}" in strings, "the set-up cell must pip-install the course repository"
    extra = strings - {"-m", "pip", "install", "-q", "--quiet", "attnlib", f"git+{repo}"}
    assert not extra, f"the set-up cell installs more than the package (and pyproject's dependencies): {extra}"
