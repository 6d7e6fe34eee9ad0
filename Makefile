# Tally's two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 2

.PHONY: run serve test lint typecheck pytest test-services openapi bench clean

# --- environments (reinstalled only when pyproject.toml changes) -------------------------------

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Tally needs Python 3.11+; set PYTHON=python3.x" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

# --- run ---------------------------------------------------------------------------------------

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py load_demo
	@$(MAKE) --no-print-directory serve

serve:
	@echo "Tally is serving on http://$(HOST):$(PORT)/ ($(WEB_CONCURRENCY) workers; Ctrl-C stops it)"
	$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WEB_CONCURRENCY) --no-access-log --no-proxy-headers

# --- test --------------------------------------------------------------------------------------

test: $(VENV)/.installed-dev lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

pytest: $(VENV)/.installed-dev
	scripts/browser-deps.sh
	$(BIN)/pytest

# PostgreSQL + Redis: the servers on 127.0.0.1 when there are some, else throwaway ones.
test-services: $(VENV)/.installed-dev
	TALLY_LOAD_TESTS=1 scripts/test-services.sh

# The committed API contract; the test suite fails when it differs from what the code generates.
openapi: $(VENV)/.installed-dev
	$(BIN)/python manage.py spectacular --file openapi.yaml --validate --fail-on-warn

# The gateway's cost per chat and how it scales (bench/README.md); results in bench/results/.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
