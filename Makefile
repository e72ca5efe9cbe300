# The two commands of the README's quick start: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= .seglab-data

.PHONY: demo test lint setup services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The main job: the labeling server with a demo project, on SQLite and local files in $(DATA_DIR).
demo: $(STAMP)
	$(VENV)/bin/seglab serve --demo --data-dir $(DATA_DIR)

services:
	bash scripts/ensure_services.sh
	@if [ -x scripts/install_browser.sh ]; then bash scripts/install_browser.sh; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

test: $(STAMP) services lint
	$(PY) -m pytest -n 2 --dist loadfile -q
