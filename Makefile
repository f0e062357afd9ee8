# Two commands on a fresh machine (Python 3.11 and make; no Docker, no root):
#   make up     create the virtualenv if missing, install, start Redis + seed + all six services
#   make test   lint, then the whole test suite (real Redis and real service processes)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install meinheld up test test-unit lint format env-example deploy-files soak perf perf-micro clean bench profile timeit locust sweep report

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[dev]"
	$(MAKE) --no-print-directory meinheld
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools and meinheld

# meinheld 1.0.2 (its last release) pins greenlet<0.5, which does not build on Python 3.11:
# install a current greenlet, then meinheld without its pinned dependencies.
meinheld: | $(PY)  ## install the optional meinheld worker for the sync stack
	$(PY) -m pip install --quiet "greenlet>=3"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation "meinheld==1.0.2"

up: install  ## start Redis, seed it, start all six services; Ctrl-C stops everything
	$(PY) -m stack.up

test: install lint  ## run the linters and the whole test suite
	$(PY) -m pytest

test-unit: install  ## only the tests that start no process
	$(PY) -m pytest -m "not integration"

lint: install  ## ruff: lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The benchmark suite (issue 3). Each target starts the stack(s) it measures on free ports, one stack at a
# time, and writes under doc/results/ (QUICK=1: a smoke run of under 3 minutes, written to var/bench-quick/).
SCENARIO ?= all
bench: install  ## every experiment for both stacks, then the report (QUICK=1 for a smoke run)
	$(PY) -m benchmark all

profile: install  ## pyinstrument and yappi profiles of the client and every service, both stacks
	$(PY) -m benchmark profile

timeit: install  ## N = 1..K sequential calls, R repetitions, both stacks
	$(PY) -m benchmark timeit

locust: install  ## Locust scenarios: SCENARIO=all|response_time|load|max|stress|cpubound
	$(PY) -m benchmark locust --scenario $(SCENARIO)

sweep: install  ## the configuration sweep of benchmark/sweep.toml
	$(PY) -m benchmark sweep

report: install  ## rebuild the report from the results already on disk
	$(PY) -m benchmark report

env-example: install  ## regenerate .env.example from the settings classes
	$(PY) -m stack.env_example > .env.example

deploy-files: install  ## regenerate docker-compose.yml and the Kubernetes files taken from stack/services.py
	$(PY) -m stack.compose > docker-compose.yml
	$(PY) -m stack.k8s

PERF_ARGS ?=
perf: install  ## each stack as make up starts it under wrk (or Locust): p50 at 1 connection, capacity at p99 <= 100 ms
	$(PY) -m benchmark.perf $(PERF_ARGS)

perf-micro: install  ## CPU per call of each piece doc/performance.md changed, old way and new, in one process
	$(PY) -m benchmark.micro

SOAK_ARGS ?=
soak: install  ## long load with periodic faults on each stack: success rate, memory/FD growth (not in CI)
	$(PY) -m faults.soak $(SOAK_ARGS)

clean:  ## remove the virtualenv, logs and caches
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
