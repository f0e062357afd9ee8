# syntax=docker/dockerfile:1
#
# One image for both stacks, with three build targets:
#   runtime           (the default) every service of both stacks and the seeding job
#   runtime-meinheld  runtime plus the meinheld worker, installed as `make meinheld` installs it
#   bench             runtime plus Locust, for the benchmark's master and workers
# One image rather than one per stack: the stacks are one Python project with one dependency set
# and shared code (only the gunicorn worker class and app module differ, and both come from the
# command), so two images would be two copies of the same layers. meinheld and Locust are targets
# because only some containers need them, and meinheld needs a compiler the others should not carry.
#
# No ENTRYPOINT or CMD: docker-compose.yml and the Kubernetes overlays give every container its
# command from stack/services.py, exactly as `make up` runs it.
#
#   docker build -t async-vs-sync-scoring:runtime .
#   docker build --target runtime-meinheld -t async-vs-sync-scoring:runtime-meinheld .
#   docker build --target bench -t async-vs-sync-scoring:bench .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies only, from pyproject.toml alone: this layer is rebuilt when the dependencies change,
# not on every source edit. (pip has no "dependencies only" flag, hence the one-line extraction.)
FROM base AS deps
WORKDIR /build
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
 && pip install --upgrade pip setuptools wheel \
 && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > requirements.txt \
 && pip install -r requirements.txt

# meinheld 1.0.2 pins greenlet<0.5, which does not build on Python 3.11: the same two steps as
# `make meinheld`, in a stage of its own so that gcc never reaches a runtime image.
FROM deps AS deps-meinheld
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN pip install "greenlet>=3" \
 && pip install --no-deps --no-build-isolation meinheld==1.0.2

# The benchmark suite's extra (Locust, matplotlib, profilers) for the bench target, from pyproject.toml too.
FROM deps AS deps-bench
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"]))' \
      > requirements-bench.txt \
 && pip install -r requirements-bench.txt

# What every target shares: a non-root user and the source, importable from /app as in a checkout.
FROM base AS app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
ENV PYTHONPATH=/app

FROM app AS runtime-meinheld
COPY --from=deps-meinheld /opt/venv /opt/venv
# The build context is an allowlist (.dockerignore): the packages and the benchmark suite. Owned
# by root, so the service cannot rewrite its own code.
COPY . /app
USER 10001:10001

FROM app AS bench
COPY --from=deps-bench /opt/venv /opt/venv
COPY . /app
USER 10001:10001

# Last, so that a plain `docker build .` builds it.
FROM app AS runtime
COPY --from=deps /opt/venv /opt/venv
COPY . /app
USER 10001:10001
