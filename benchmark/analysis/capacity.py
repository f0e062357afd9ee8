"""A Little's-law capacity model: the throughput each stack's concurrency and CPU should allow."""

from __future__ import annotations

import math

from reference.settings import ServiceSettings

# Sync workers that serve one request per thread, with SERVER_THREADS threads each; gevent's green threads
# multiplex requests like an event loop; gunicorn's sync and meinheld workers serve one request at a time.
THREADED = frozenset({"gthread", "granian"})
MULTIPLEXING = frozenset({"gevent"})


def sync_concurrency(env: dict[str, str], cores: int) -> int | None:
    """Requests one sync scoring service serves at once on ``cores`` cores (workers x threads), from the variant's
    ``env`` over the defaults; None where its workers multiplex requests (gevent's green threads), like an event
    loop."""
    server = "granian" if env.get("STACK_SYNC_SERVER") == "granian" else env.get("STACK_SYNC_WORKER_CLASS", "gthread")
    if server in MULTIPLEXING:
        return None
    workers = int(env["SERVER_WORKERS"]) if "SERVER_WORKERS" in env else cores  # one per core by default
    threads = int(env.get("SERVER_THREADS", ServiceSettings.model_fields["threads"].default))
    return workers * (threads if server in THREADED else 1)


def capacity_model(stack: str, env: dict[str, str], service_ms: float, cpu_ms_per_request: float, cores: int) -> dict:
    """Throughput bounds by Little's law (X = N / R) and by CPU (cores / CPU per request), and users at the bound.

    ``service_ms``: mean response time with one user (no queueing); ``cpu_ms_per_request``: CPU of every
    process (services, Redis and the load generator, which shares the cores) per scored request;
    ``cores``: those of the machine the figures come from.
    """
    concurrency = None if stack == "async" else sync_concurrency(env, cores)
    x_concurrency = concurrency / (service_ms / 1000) if concurrency else math.inf
    x_cpu = cores / (cpu_ms_per_request / 1000) if cpu_ms_per_request > 0 else math.inf
    x_pred = min(x_concurrency, x_cpu)
    return {
        "concurrency": concurrency if concurrency else "event loop (unbounded for waits)",
        "service_ms": round(service_ms, 2),
        "cpu_ms_per_request": round(cpu_ms_per_request, 3),
        "x_concurrency_rps": None if math.isinf(x_concurrency) else round(x_concurrency, 1),
        "x_cpu_rps": None if math.isinf(x_cpu) else round(x_cpu, 1),
        "bound": "CPU" if x_cpu <= x_concurrency else "concurrency",
        "predicted_rps": None if math.isinf(x_pred) else round(x_pred, 1),
        # Users that keep that throughput busy at the unloaded response time: N = X x R.
        "predicted_users": None if math.isinf(x_pred) else round(x_pred * service_ms / 1000, 1),
    }
