# The two commands of the course: `make book` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BUDGET ?= book
export PATH := $(abspath $(BIN)):$(PATH)
# Progress bars are for people at a keyboard; executed pages and logs stay clean.
export ATTNLIB_PROGRESS ?= 0

.PHONY: book book-student test clean sync install lint

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Execute every chapter at the `book` budget (override: make book BUDGET=paper) and build the HTML.
## Chapters are executed through jupyter-cache (tools/build_book.py): a prose edit re-executes nothing,
## a code edit re-executes that chapter, a change to attnlib/, pyproject.toml or BUDGET re-executes all.
## The chapters record their figures in results/ while they run; the results page and the README's
## table are then regenerated from them, and a second, incremental build renders that page alone.
book: $(STAMP)
	$(BIN)/python tools/build_book.py --budget $(BUDGET) --strict
	$(BIN)/python -m attnlib.results
	$(BIN)/python tools/build_book.py --budget $(BUDGET) --strict
	@echo "Open _build/html/index.html"

## The student edition: the same executed pages with every exercise's solution hidden (_build/student).
book-student: $(STAMP)
	$(BIN)/python tools/build_book.py --budget $(BUDGET) --strict --student
	@echo "Open _build/student/_build/html/index.html"

## Unit tests, learning tests, the book's configuration, pairs, and every notebook at the `smoke` budget (nbmake);
## the whole book built at `smoke` and opened in headless Chromium (tests/test_book_build.py);
## every notebook again at the `paper` budget capped to 1 step and 128 samples (tests/test_paper_dry_run.py)
## and at `smoke` from a venv holding the installed wheel without dev extras (tests/test_installed.py).
## The network is blocked for the test process (pytest-socket) and every child process, notebook
## kernels included (tests/offline_guard/sitecustomize.py): only the loopback is reachable.
test: $(STAMP) lint
	ATTNLIB_BUDGET=smoke ATTNLIB_BLOCK_NETWORK=1 PYTHONPATH=$(CURDIR)/tests/offline_guard \
	  $(BIN)/python -m pytest tests notebooks --nbmake --nbmake-timeout=900 -p no:cacheprovider --durations=20 \
	  --allow-hosts=127.0.0.1,::1

## ruff: lint and format check of the library, tests, benchmarks and chapter sources.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Regenerate every notebooks/*.ipynb from its .py source (the .py is the one you edit).
sync: $(STAMP)
	$(BIN)/jupytext --to ipynb notebooks/[0-9]*.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
