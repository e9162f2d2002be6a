# Everything a developer or CI needs: `make run` starts the local stack, `make test` runs every check.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
.DEFAULT_GOAL := help

VENV      := .venv
SAM_VENV  := .venv-sam
CHECKOV_VENV := .venv-checkov
PY        := $(VENV)/bin/python
SAM       := $(SAM_VENV)/bin/sam
PYTHON313 := $(shell scripts/find-python313.sh)
SOURCES   := layers/smsgw/smsgw functions sandboxes local_stack tests scripts bench

.PHONY: help venv test unit lint typecheck check pytest browser run invoke bench build events clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt constraints.txt layers/smsgw/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (see scripts/find-python313.sh)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON313) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

venv: $(VENV)/.installed ## Create the virtualenv from pinned requirements

test: lint typecheck check pytest ## Lint, type-check, validate the template and run every test

lint: venv
	$(VENV)/bin/ruff check $(wildcard $(SOURCES))
	$(VENV)/bin/ruff format --check $(wildcard $(SOURCES))

typecheck: venv
	$(VENV)/bin/mypy

# Test files run on two workers (pytest-xdist), each file's tests on one worker (module fixtures such
# as a running stack are made once). PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2

pytest: venv browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

browser: ## Debian's Chromium for the console's browser tests (installed when missing, if apt-get can)
	@scripts/install-chromium.sh

unit: venv ## Fast offline unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

check: venv $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## bandit, cfn-lint, checkov, sam validate --lint, sam build
	$(VENV)/bin/bandit -q -c pyproject.toml -r layers/smsgw/smsgw functions local_stack sandboxes
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) validate --lint --region us-east-1
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build --build-dir .aws-sam/build
	@# The layer's package must land in python/smsgw, not python/python/smsgw (the import path of every handler).
	test -f .aws-sam/build/SmsCoreLayer/python/smsgw/__init__.py

build: check ## sam build (into .aws-sam/build)

run: venv ## Start the whole gateway locally (no Docker, no AWS account)
	$(PY) -m local_stack

invoke: venv ## Run one handler in-process: make invoke FUNCTION=send EVENT=events/send.json
	$(PY) -m local_stack.invoke $(FUNCTION) $(EVENT)

bench: venv ## Benchmarks: prints a table, writes bench/results.{json,md}
	$(PY) -m bench

events: $(SAM_VENV)/.installed ## Regenerate events/*.json with `sam local generate-event`
	PATH="$(SAM_VENV)/bin:$$PATH" $(PY) scripts/make_events.py

clean: ## Remove virtualenvs and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .mypy_cache .pytest_cache .ruff_cache
