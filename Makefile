# Two commands on a fresh machine (Python 3.11 and make; no Docker, no root):
#   make up     create the virtualenv if missing, install the locked dependencies, start Redis + seed + all six services
#   make test   lint, then the test suite but its long end-to-end runs (real Redis, real service processes, real edges)
# Everything runs from this directory: the project is run from its checkout, never installed into site-packages.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
# uv uses the interpreter of $(VENV) and never downloads one of its own.
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help install meinheld lock up test test-slow test-compose test-unit lint format deploy-files env-example soak perf clean \
        prometheus observe docs \
        answer bench study profile timeit locust sweep report

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)

# uv itself, pinned with hashes to the version uv.lock holds (so `uv sync` keeps the uv it runs as).
$(UV): requirements/uv.txt | $(PY)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	@touch $(UV)

# Exactly the locked versions (`--locked` refuses a lock that no longer matches pyproject.toml), from wheels only:
# nothing is compiled (`--no-build`).
$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --extra dev --no-build
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install exactly the locked versions (uv.lock), dev tools included; compiles nothing

# meinheld, opt-in: its last release (2020) is an sdist that needs a C compiler, and pins greenlet<0.5, which does not
# build on 3.11, so it goes in without its dependencies (greenlet>=3 and setuptools: the locked `meinheld` extra).
meinheld: install  ## build and install meinheld (needs a C compiler), for the sweep's meinheld variant
	$(UV) sync --locked --extra dev --extra meinheld --no-build
	$(UV) pip install --python $(PY) --quiet --no-deps --no-build-isolation --require-hashes -r requirements/meinheld.txt

lock: | $(UV)  ## refresh uv.lock to the newest versions pyproject.toml allows, and the pins of uv and meinheld
	$(UV) lock --upgrade
	@version=$$($(UV) export --locked --extra dev --no-hashes --no-emit-project --format requirements-txt | grep '^uv=='); \
	  { echo "# uv, at the version uv.lock holds: make install bootstraps it with pip. Written by make lock."; \
	    echo "$$version" | $(UV) pip compile - --generate-hashes --no-header --quiet --python-version 3.11; } > requirements/uv.txt
	@{ echo "# meinheld's last release (the original study's sync server), installed --no-deps. Written by make lock."; \
	   echo "meinheld==1.0.2" | $(UV) pip compile - --no-deps --generate-hashes --no-header --quiet --python-version 3.11; \
	 } > requirements/meinheld.txt
	@echo "uv.lock, requirements/uv.txt and requirements/meinheld.txt refreshed: run make test, then commit them"

# `exec`: the launcher replaces the recipe's shell, so SIGTERM/SIGINT reach it directly and make returns only once it
# has stopped everything (it also restarts a process that dies, and its children die with it).
up: install  ## start Redis, seed it, start all six services; Ctrl-C stops everything
	exec $(PY) -m system_launcher

test: install lint prometheus  ## ruff, then the test suite but its long end-to-end runs (under 10 minutes)
	$(PY) -m pytest -m "not slow"

test-slow: install prometheus  ## the long end-to-end runs: supervision, hostile clients, fuzzing, the benchmark's smoke runs
	$(PY) -m pytest -m slow --durations=30

# The documentation site: mkdocs.yml, doc/ into var/site/, strict (a broken link or anchor, a page missing from the nav
# or a nav entry without its page fails the build). Not --quiet: it hides the warnings that strict mode counts.
docs: install  ## build the documentation site from doc/ into var/site/ (strict)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# Prometheus and promtool from Debian's package, unpacked without root: what the observability tests run. Where
# they cannot be fetched (not Debian), the tests that need them say so and skip; CI requires them.
PROMETHEUS := .tools/prometheus/usr/bin/prometheus
prometheus:  ## fetch Prometheus and promtool (Debian's package, no root) into .tools/ for the observability tests
	@bash deploy/observability/fetch-prometheus .tools/prometheus || \
	  echo "make prometheus: not fetched; the observability tests will skip (REQUIRE_PROMETHEUS=1 makes them fail)"

# Prometheus beside make up (run make up first, in another terminal): the pack's scrape configuration rendered for the
# native stack and its recording rules; the Grafana dashboard's queries work in Prometheus' own Graph tab.
observe: install prometheus  ## Prometheus scraping the stack make up runs, with the pack's rules, on 127.0.0.1:9090
	exec $(PY) -m deploygen.observe

# docker-compose.yml on a real Docker engine (DOCKER, default `docker`; CI starts one with ../shared/tools/docker-sandbox):
# build, up --wait with the edges, both stacks' scores through the edges, Locust with two workers, a Redis restart,
# stop with every container exiting 0; a compose project of its own on free host ports, always `down -v` at the end.
test-compose: install  ## the compose file on a real Docker engine, end to end (a few minutes)
	COMPOSE_TEST=1 DOCKER_BUILDKIT=0 $(PY) -m pytest -v -x --timeout 1500 tests/compose

test-unit: install  ## only the tests that start no process
	$(PY) -m pytest -m "not integration"

lint: install  ## ruff: lint and format check
	$(PY) -m ruff check --no-cache .
	$(PY) -m ruff format --no-cache --check .

format: install  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

deploy-files: install  ## regenerate docker-compose.yml, .env.example, lab.env.example and the Kubernetes files
	$(PY) -m deploygen

env-example: deploy-files  ## regenerate .env.example (with every other generated file)

# The benchmark. Each target starts the stack(s) it measures on free ports, one stack at a time. The answer's runs
# write var/results/<time>-<sha>/ (PUBLISH=1: doc/results and the README's block too).
SCENARIO ?= all
ANSWER_ARGS ?=
answer: install  ## the answer, measured here: async against sync at three rungs, 95 % intervals, under 30 minutes
	$(PY) -m benchmark answer $(if $(PUBLISH),--publish) $(ANSWER_ARGS)

bench: install  ## the answer with the whole build ladder and the crossover map (about 2 hours; PUBLISH=1 publishes it)
	$(PY) -m benchmark answer --bench $(if $(PUBLISH),--publish) $(ANSWER_ARGS)

# The lab's experiments, each a closer look at one part (writes doc/results/<phase>/ and report.md; QUICK=1: a smoke
# run of a few minutes into var/bench-quick/).
study: install  ## the lab: Locust scenarios, the sweep, timeit, profiles, open-loop curves, transports, job mode (RESUME=1: go on)
	$(PY) -m benchmark all $(if $(RESUME),--resume)

profile: install  ## pyinstrument and yappi profiles of the client and every service, both stacks
	$(PY) -m benchmark profile

timeit: install  ## N = 1..K sequential calls, R repetitions, both stacks
	$(PY) -m benchmark timeit

locust: install  ## Locust scenarios: SCENARIO=all|response_time|load|max|stress|cpubound
	$(PY) -m benchmark locust --scenario $(SCENARIO)

sweep: install  ## the configuration sweep of benchmark/experiments/sweep.toml
	$(PY) -m benchmark sweep

report: install  ## rebuild the report from the results already on disk
	$(PY) -m benchmark report

PERF_ARGS ?=
perf: install  ## each stack as make up starts it under wrk (or Locust): p50 at 1 connection, capacity at p99 <= 100 ms
	$(PY) -m benchmark perf $(PERF_ARGS)

SOAK_ARGS ?=
soak: install  ## long load with periodic faults on each stack: success rate, memory/FD growth (not in CI)
	$(PY) -m fault_injection.soak $(SOAK_ARGS)

clean:  ## remove the virtualenv, logs and caches
	rm -rf $(VENV) var .tools .pytest_cache .ruff_cache *.egg-info
