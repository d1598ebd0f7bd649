# The front door. `make demo` runs the main job on the local default; `make test` runs every test.
# Both install what they need first (scripts/bootstrap.sh skips what is already installed).
SHELL := /bin/bash
PY := .venv/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export PYTHONDONTWRITEBYTECODE := 1
# Tests and the demo never talk to AWS: no credentials, a fixed region.
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: setup demo test lint test-unit test-infra test-integration test-e2e bench fuzz synth openapi clean replay talk console

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

# Malformed events per Lambda handler and cross-tenant attempts through the vendor API: counts, no timings.
fuzz: setup
	$(PY) -W ignore::UserWarning -W ignore::DeprecationWarning -m tests.fuzz_report

# Conversation replay: every script under calls/ (JUnit in build/replay-junit.xml), or be the caller yourself.
TENANT ?= cozy-comfort
replay: setup
	$(PY) -m oratio replay calls --junit build/replay-junit.xml --html build/replay-report.html
talk: setup
	$(PY) -m oratio talk --tenant $(TENANT) $(TALK_ARGS)

# The vendor console on 127.0.0.1 against the demo's data (local Cognito stand-in; prints the URL and sign-in).
CONSOLE_PORT ?= 8321
console: setup
	$(PY) -m oratio_local.console $(if $(TENANT),--tenant $(TENANT)) --port $(CONSOLE_PORT)

openapi: setup
	$(PY) -m oratio_local.openapi

synth: setup
	npx --no-install cdk synth --quiet

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
