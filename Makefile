# Every target bootstraps what it needs: a fresh clone runs `make demo` / `make test` directly.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0
LAMBDA_DEPS := build/lambda-deps
CDK := node_modules/.bin/cdk
ENVIRONMENTS := $(shell $(PYTHON) -c "import json; print(' '.join(json.load(open('cdk.json'))['context']['environments']))")
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

.PHONY: setup lock synth demo test bench experiment base-model train-example clean

setup: $(VENV)/.installed $(VENV)/.project node_modules/.installed $(LAMBDA_DEPS)/.installed

# uv is pinned inside the lock so `uv pip sync` keeps it; bytecode is compiled once here
# because this machine sets PYTHONDONTWRITEBYTECODE. torch comes last, from pip, because
# pip finds the CPU build that lies on the machine (uv does not look there, and the
# registry's build drags in gigabytes of CUDA); the lock leaves torch out for that reason.
$(VENV)/.installed: requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$$(sed -n 's/^uv==//p' requirements/dev.lock)
	$(VENV)/bin/uv pip sync --quiet --python $(PY) --compile-bytecode requirements/dev.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION)
	touch $@

# The project's own packages (pyproject.toml), installed editable so every command, test and
# benchmark imports them by name from wherever it runs; setuptools comes from the lock.
$(VENV)/.project: pyproject.toml $(VENV)/.installed
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps --no-build-isolation --editable .
	touch $@

# Re-lock after editing a *.in file. Needs the CPU torch wheel on pip's find-links so the
# lock carries the CPU build's dependencies, not CUDA's.
LOCK := $(VENV)/bin/uv pip compile --quiet --python-version 3.11 --no-header \
	--find-links $${PIP_FIND_LINKS} --override requirements/torch-cpu.override --no-emit-package torch
lock:
	$(LOCK) requirements/dev.in -o requirements/dev.lock

# The Lambda layer's third-party packages, as wheels built for the Lambda runtime
# (Python 3.12, x86_64): nothing is compiled here, and synth copies them into the layer.
$(LAMBDA_DEPS)/.installed: requirements/lambda.txt
	rm -rf $(LAMBDA_DEPS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-compile --no-deps --only-binary=:all: \
	  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --python-version 3.12 --implementation cp \
	  --target $(LAMBDA_DEPS)/python -r requirements/lambda.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: setup
	@for env in $(ENVIRONMENTS); do \
	  $(PY) -m security.review --env $$env || exit 1; \
	done

# The pipeline end to end on this machine (pipeline/local/): the state machine's steps on a
# tiny model, S3 as a folder under work/demo/s3, a local MLflow server; the summary at the end.
demo: setup
	$(PY) -m security.review --env dev --announce
	$(PY) -m pipeline.local --work work/demo

test: setup
	$(PY) -m pytest -q tests

# The shipped base model (examples/base-model), remade: pre-trained from random weights on the
# generated general curriculum with the training container, scored, hashed into provenance.json.
base-model: setup
	$(PY) -m synthetic_data.base_model --out examples/base-model --work work/base-model

# The forgetting experiment on the shipped base: fine-tune it customer-only and mixed (LoRA and
# full) over several seeds, score every model; table + plot in reports/.
experiment: setup
	$(PY) -m experiments.forgetting --work work/experiment --reports reports

bench: setup
	$(PY) -m benchmarks.synth_time
	$(PY) -m benchmarks.training
	$(PY) -m benchmarks.data_path
	$(PY) -m benchmarks.sharding
	$(PY) -m benchmarks.sanitiser
	$(PY) -m benchmarks.pii

# The training container end to end on this machine: a tiny model and generated data laid
# out as SageMaker channels, a mixed LoRA run, portable weights in work/sandbox/model.
SANDBOX := work/sandbox
train-example: setup
	rm -rf $(SANDBOX)
	$(PY) -m synthetic_data.sandbox --out $(SANDBOX)
	$(PY) -m openforge_training.train \
	  --input_dir $(SANDBOX)/input --output_dir $(SANDBOX)/model --checkpoint_dir $(SANDBOX)/checkpoints \
	  --customer_data_percent 75 --curated_weights '{"reasoning": 40, "instruction_following": 30, "factuality": 30}' \
	  --method lora --max_steps 40 --learning_rate 2e-3 --global_batch_size 16 --per_device_batch_size 8 --max_length 256 --logging_steps 10

clean:
	rm -rf cdk.out .pytest_cache work
