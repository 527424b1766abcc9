# Set-up and everyday commands. Each target creates .venv when it is missing and installs
# torch==2.13.0 first (so pip never pulls a CUDA build of torch on a CPU machine).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup run generate test lint bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,cluster]"
	touch $(STAMP)

# Open the desktop app on the default workflow and the built-in model.
run: $(STAMP)
	$(PY) main.py

# The same default workflow, headless: writes PNGs into ./output.
generate: $(STAMP)
	$(PY) main.py run resources/workflows/default.json --out output

test: $(STAMP)
	$(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/engine_overhead.py
