# The two commands of the README's quick start: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= .seglab-data

.PHONY: demo test lint setup services torch

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The main job: the labeling server with a demo project, on SQLite and local files in $(DATA_DIR).
demo: $(STAMP)
	$(VENV)/bin/seglab serve --demo --data-dir $(DATA_DIR)

# PyTorch is an optional extra (seglab[torch]); CI sets SEGLAB_TEST_TORCH=1 so the TorchScript backend's
# tests run there too (its machines carry a local CPU wheel: pip takes it without downloading).
torch: $(STAMP)
	@if [ "$${SEGLAB_TEST_TORCH:-0}" = "1" ] && ! $(PY) -c "import torch" 2>/dev/null; then \
		$(PY) -m pip install --quiet "torch==2.13.0"; fi

services:
	bash scripts/ensure_services.sh
	@if [ -x scripts/install_browser.sh ]; then bash scripts/install_browser.sh; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

test: $(STAMP) torch services lint
	$(PY) -m pytest -n 2 --dist loadfile -q
