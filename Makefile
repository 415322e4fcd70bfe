# Outreach — the two commands: `make up` (the whole system with demo data) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up down status test lint typecheck pytest unit integration e2e bench bench-smoke schemas \
	venv kustomize k8s k8s-validate image image-digest web-deps chromium

# kustomize, pinned, built from the Go module proxy into the git-ignored .local/bin (v5.8.2 is
# the newest that builds with Go 1.26; v5.8.3 needs Go 1.27).
KUSTOMIZE_VERSION := v5.8.2
KUSTOMIZE_STAMP := .local/bin/.kustomize-$(KUSTOMIZE_VERSION)
PYTHON_BASE_TAG := python:3.11-slim-trixie

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml $(wildcard services/*/*/__init__.py)
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

## Start PostgreSQL, Kafka, Keycloak, every service and the staff web app, load demo data,
## print where to look.
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
	$(VENV)/bin/mypy shared services web

pytest: venv kustomize web-deps chromium
	$(PY) deploy/local/stack.py up
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## One tier of the tests (the markers of tests/support/tiers.py; every test has exactly one):
## unit (no network; the deployment checks too), integration (the real PostgreSQL, Kafka and
## Keycloak), e2e (the services as processes).
unit: venv kustomize
	$(PY) deploy/local/stack.py prometheus-install
	$(VENV)/bin/pytest -m unit $(PYTEST_ARGS)

integration: venv
	$(PY) deploy/local/stack.py up
	$(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

e2e: venv web-deps chromium
	$(PY) deploy/local/stack.py up
	$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

## The web app's browser tests: axe-core from npm (web/package-lock.json) and Debian's
## Chromium (Playwright drives /usr/bin/chromium; it cannot download a browser here).
WEB_DEPS_STAMP := web/node_modules/.package-lock.json

web-deps: $(WEB_DEPS_STAMP)

$(WEB_DEPS_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

## Benchmarks (bench/README.md): starts the stack, runs every measurement with its raw
## baseline, writes bench/results/ (JSON, results.md, results.png). BENCH_SCALE=small|full.
bench: venv
	$(PY) -m bench --scale $${BENCH_SCALE:-full}

bench-smoke: venv
	$(PY) -m bench --scale smoke

schemas: venv
	$(PY) -m shared.contracts.export

## Kubernetes (deploy/README.md): the base rendered from shared/, then validated offline.
kustomize: $(KUSTOMIZE_STAMP)

$(KUSTOMIZE_STAMP):
	@command -v go >/dev/null || { echo "needs go (1.24 or newer) to build kustomize"; exit 1; }
	mkdir -p .local/bin
	GOBIN=$(abspath .local/bin) GOTOOLCHAIN=local go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	rm -f .local/bin/.kustomize-*
	touch $@

k8s: venv
	$(PY) deploy/k8s/generate.py

k8s-validate: venv kustomize
	$(PY) deploy/k8s/generate.py --check
	$(PY) deploy/k8s/validate.py

## The container image (needs a Docker engine; the tests lint the Dockerfile without one).
image:
	docker build -t outreach .

image-digest:
	docker buildx imagetools inspect $(PYTHON_BASE_TAG) --format '{{json .Manifest.Digest}}'
