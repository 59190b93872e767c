# Every target bootstraps what it needs: a fresh clone runs `make demo` / `make test` directly.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
ENVIRONMENTS := $(shell $(PYTHON) -c "import json; print(' '.join(json.load(open('cdk.json'))['context']['environments']))")
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

.PHONY: setup synth demo test bench clean

setup: $(VENV)/.installed node_modules/.installed

# uv is pinned inside the lock so `uv pip sync` keeps it; bytecode is compiled once here
# because this machine sets PYTHONDONTWRITEBYTECODE.
$(VENV)/.installed: requirements/infra.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$$(sed -n 's/^uv==//p' requirements/infra.lock)
	$(VENV)/bin/uv pip sync --quiet --python $(PY) --compile-bytecode requirements/infra.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: setup
	@for env in $(ENVIRONMENTS); do \
	  $(PY) -m security.review --env $$env || exit 1; \
	done

demo: setup
	$(PY) -m security.review --env dev --announce

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m benchmarks.synth_time

clean:
	rm -rf cdk.out .pytest_cache
