# Outreach — the two commands: `make up` (the whole system with demo data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up down status test lint typecheck pytest bench bench-smoke schemas venv

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml $(wildcard services/*/*/__init__.py)
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## Start PostgreSQL, Kafka and every service, load demo data, print where to look.
up: venv
	$(PY) deploy/local/stack.py up
	$(PY) deploy/local/services.py up
	$(PY) deploy/local/demo.py

down: venv
	-$(PY) deploy/local/services.py down
	$(PY) deploy/local/stack.py down

status: venv
	-$(PY) deploy/local/stack.py status
	-$(PY) deploy/local/services.py status

## Lint, format check, type check, then every test (unit, integration, end to end).
test: lint typecheck pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy shared services

pytest: venv
	$(PY) deploy/local/stack.py up
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## Benchmarks (bench/README.md): starts the stack, runs every measurement with its raw
## baseline, writes bench/results/ (JSON, results.md, results.png). BENCH_SCALE=small|full.
bench: venv
	$(PY) -m bench --scale $${BENCH_SCALE:-full}

bench-smoke: venv
	$(PY) -m bench --scale smoke

schemas: venv
	$(PY) -m shared.contracts.export
