# Tally's two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 2

.PHONY: lock run serve test lint typecheck pytest test-services openapi bench clean

# --- environments (installed from the locks; reinstalled when they or pyproject.toml change) ---

# The locks pin every package with its hashes for Python 3.11 on Linux x86_64, the machines
# Tally runs and is tested on; `make lock` writes them from pyproject.toml (README: Dependencies).
RUN_LOCK := requirements/run.txt
DEV_LOCK := requirements/dev.txt

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Tally needs Python 3.11+; set PYTHON=python3.x" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(RUN_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@ $(VENV)/.installed

# Keeps every pin that pyproject.toml still allows; `make lock LOCK_FLAGS=--upgrade` moves all
# to the newest allowed, `LOCK_FLAGS='--upgrade-package django'` one. run.txt is constrained by
# dev.txt, so the tests run on the versions the image ships.
LOCK_FLAGS ?=
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock'

lock: $(VENV)/.installed-dev
	$(UV_COMPILE) $(LOCK_FLAGS) --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) -c $(DEV_LOCK) -o $(RUN_LOCK)

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
