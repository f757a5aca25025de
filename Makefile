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
# Tests and the book run on the CPU here; a GPU user overrides with ATTNLIB_DEVICE=cuda.
export MPLBACKEND := Agg

.PHONY: book test clean sync install lint

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Execute every chapter at the `book` budget (override: make book BUDGET=paper) and build the HTML.
book: $(STAMP)
	ATTNLIB_BUDGET=$(BUDGET) $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "Open _build/html/index.html"

## Unit tests, learning tests, the book's configuration, pairs, and every notebook at the `smoke` budget.
test: $(STAMP)
	ATTNLIB_BUDGET=smoke $(BIN)/python -m pytest tests notebooks --nbmake --nbmake-timeout=900 -p no:cacheprovider

## Regenerate every notebooks/*.ipynb from its .py source (the .py is the one you edit).
sync: $(STAMP)
	$(BIN)/jupytext --to ipynb notebooks/[0-9]*.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
