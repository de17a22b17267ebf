# Developer entry points. `make run` and `make test` set up .venv on first use.
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup run test lint format bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/monitor run

test: setup
	$(PYTHON) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PYTHON) bench/eventlog.py
	$(PYTHON) bench/service.py  # needs wrk (apt-get install wrk)
