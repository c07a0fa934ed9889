# The README names these targets. `make local` and `make test` set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
# checkov pins an older boto3 than the project's: it gets a virtual environment of its own.
CHECKOV_VENV := .venv-checkov

.PHONY: setup setup-sam setup-checkov local demo test test-large faults lint format typecheck benchmark bench docs build deploy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml layers/common/requirements.txt
	$(BIN)/pip install --quiet -r layers/common/requirements.txt --group dev
	# The layer package on the venv's path, as /opt/python is in Lambda (for tools.admin,
	# demo, benchmarks; pytest finds it through pyproject's pythonpath).
	echo "$(CURDIR)/layers/common" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/batchcalls-layer.pth"
	echo "$(CURDIR)" >> "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/batchcalls-layer.pth"
	touch $@

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0
	touch $@

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30
	touch $@

setup: $(VENV)/.installed

setup-sam: $(SAM_VENV)/.installed

setup-checkov: $(CHECKOV_VENV)/.installed

## The local stack: moto server + template.yaml deployed into it + handlers in-process.
local: setup
	$(BIN)/python -m local_stack

## A whole campaign on the simulated clock, with a summary and a chart.
demo: setup
	$(BIN)/python -m demo

## Everything CI runs: lint, types, unit, integration, infra (cfn-lint, sam build), local stack.
test: setup setup-sam setup-checkov
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common functions local_stack tools demo
	# template.yaml: cfn-lint with the serverless rules, and checkov (each finding is fixed
	# or suppressed in the template with its reason)
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file template.yaml
	$(BIN)/pytest -n 2 --dist worksteal -m "not large"

## Tests that take minutes of moto's time (a 100,000-row contact file end to end).
test-large: setup
	$(BIN)/pytest -m large

## The fault suite in full (every fault kind at every request of every delivery path) and
## seeded random mixes on larger campaigns; ends with the summary line. SEEDS=40 by default.
faults: setup
	$(BIN)/python -m tests.faults.random_mixes --seeds $${SEEDS:-40}

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck:
	$(BIN)/mypy layers/common functions local_stack tools demo

benchmark: setup
	$(BIN)/python benchmarks/plan_benchmark.py

## Every benchmark (medians of runs, latency model on), out/bench.md and out/bench.json;
## docs/benchmarks.md. The contact-file import runs at 100,000 rows (BENCH_ARGS to change).
bench: setup
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

## docs/api.md's reference, generated from the OpenAPI document the API serves.
docs: setup
	$(BIN)/python -m tools.api_docs

build: setup-sam
	PATH="$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/$$(pyenv versions --bare 2>/dev/null | grep -m1 '^3\.12' || echo 3.12.1)/bin:$$PATH" $(SAM_VENV)/bin/sam build

deploy: build
	$(SAM_VENV)/bin/sam deploy

clean:
	rm -rf .aws-sam build .pytest_cache .ruff_cache .mypy_cache
