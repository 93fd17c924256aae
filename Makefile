# Mosaic: `make run` starts everything, `make test` runs the tests, `make lint` checks style and types.
# Both create the virtualenv and install what is missing first. Data lives in $(MOSAIC_STATE_DIR).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MOSAIC_STATE_DIR ?= $(CURDIR)/var

.PHONY: install run test lint format clean-state help

help:
	@echo "make run    start Mosaic (embedded PostgreSQL + Redis, web, worker, beat)"
	@echo "make test   run the whole test suite against real servers"
	@echo "make lint   ruff (lint + format check) and mypy"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Mosaic needs Python 3.11 or newer (found $$($(PYTHON) --version))."; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3 -m venv is unavailable; installing virtualenv with pip instead."; \
		$(PYTHON) -m pip install --quiet --user virtualenv && $(PYTHON) -m virtualenv --quiet $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/mosaic run

test: install
	$(BIN)/mosaic test

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(BIN)/mosaic init >/dev/null  # mypy's Django plugin loads the settings
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean-state:
	rm -rf $(MOSAIC_STATE_DIR)
