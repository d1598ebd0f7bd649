# The front door. `make demo` runs the main job on the local default; `make test` runs every test.
# Both install what they need first (scripts/bootstrap.sh skips what is already installed).
SHELL := /bin/bash
PY := .venv/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export PYTHONDONTWRITEBYTECODE := 1
# Tests and the demo never talk to AWS: no credentials, a fixed region.
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: setup demo test lint test-unit test-infra test-integration test-e2e bench synth openapi clean replay talk

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(PY) -m oratio_local.demo $(if $(TENANT),--tenant $(TENANT))

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit
test-infra: setup
	$(PY) -m pytest tests/infra
test-integration: setup
	$(PY) -m pytest tests/integration
test-e2e: setup
	$(PY) -m pytest tests/e2e

bench: setup
	$(PY) -m bench

# Conversation replay: every script under calls/ (JUnit in build/replay-junit.xml), or be the caller yourself.
TENANT ?= cozy-comfort
replay: setup
	$(PY) -m oratio replay calls --junit build/replay-junit.xml --html build/replay-report.html
talk: setup
	$(PY) -m oratio talk --tenant $(TENANT) $(TALK_ARGS)

openapi: setup
	$(PY) -m oratio_local.openapi

synth: setup
	npx --no-install cdk synth --quiet

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
