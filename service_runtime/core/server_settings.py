"""Settings of the server that serves any service, gunicorn or Granian (env prefix ``SERVER_``).

``SERVER_WORKER_CLASS`` names what serves the requests inside each worker process. Worker counts follow one
documented formula, overridable with ``SERVER_WORKERS``:
- ``uvicorn`` (async, default of the async stack): gunicorn with uvicorn workers, one per core; each event
  loop multiplexes all its requests.
- ``gthread`` (sync, default): gunicorn, one worker per core, ``SERVER_THREADS`` threads each
  (concurrency = workers x threads), the sync way to keep many slow upstream calls in flight.
- ``gevent`` (sync): gunicorn's gevent worker, one per core; the worker monkey-patches the standard library
  before it loads the app, so every blocking call (Redis, the model calls, the fan-out's threads) is a
  green thread, and one worker serves many requests at once, like an event loop.
- ``sync``: 2 x cores + 1 (gunicorn's own rule); each worker serves one request at a time.
- ``meinheld``: the original study's configuration only (its last release, 1.0.2, is from 2020 and breaks
  ``pip check``); one worker per core; without monkeypatching each serves one request at a time.
- ``granian-asgi`` / ``granian-wsgi``: Granian (one Rust HTTP server for both stacks) serving the async app
  (ASGI, one event loop per worker, like uvicorn) or the sync app (WSGI, ``SERVER_THREADS`` blocking threads
  per worker, like gthread); one worker per core (``service_runtime/server/granian_serve.py``).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from service_runtime.core.settings import settings_config

WorkerClass = Literal["uvicorn", "gthread", "gevent", "sync", "meinheld", "granian-asgi", "granian-wsgi"]
# The worker classes Granian serves; every other one is a gunicorn worker class.
GRANIAN_WORKER_CLASSES: frozenset[str] = frozenset({"granian-asgi", "granian-wsgi"})
# Worker classes whose worker multiplexes many requests on one thread (an event loop, or green threads).
MULTIPLEXING_WORKER_CLASSES: frozenset[str] = frozenset({"uvicorn", "gevent", "granian-asgi"})
# Worker classes whose worker serves one request per thread, with SERVER_THREADS threads.
THREADED_WORKER_CLASSES: frozenset[str] = frozenset({"gthread", "granian-wsgi"})


def cpu_count() -> int:
    """Cores this process may run on (respects CPU affinity, unlike os.cpu_count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def stack_worker_class(stack: str, server: str, sync_worker_class: str = "gthread") -> str:
    """The ``SERVER_WORKER_CLASS`` of a stack's services from the launcher's choices (``STACK_*_SERVER``).

    Granian serves the async apps as ASGI and the sync ones as WSGI; otherwise the async stack runs uvicorn
    workers and the sync stack the chosen gunicorn worker class.
    """
    if server == "granian":
        return "granian-asgi" if stack == "async" else "granian-wsgi"
    return "uvicorn" if stack == "async" else sync_worker_class


def workers_for(worker_class: str, cores: int) -> int:
    """The worker formula: ``2 x cores + 1`` for sync workers, one per core otherwise."""
    return 2 * cores + 1 if worker_class == "sync" else cores


class ServerSettings(BaseSettings):
    """How gunicorn serves one service: bind address, worker class and counts, timeouts."""

    model_config = settings_config("SERVER_")

    name: str = Field(default="service", description="Process name shown by ps.")
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to bind.")
    worker_class: WorkerClass = Field(
        default="gthread",
        description="What serves requests in each worker: gunicorn's uvicorn, gthread, gevent, sync or meinheld "
        "(the original study's only) workers, or Granian (granian-asgi, granian-wsgi).",
    )
    workers: int | None = Field(
        default=None, ge=1, description="Worker processes; default: by worker class (cores, or 2 x cores + 1 for sync)."
    )
    # 64, not 32: keep-alive connections stick to the worker that accepted them, and the spread
    # is uneven; with 32 threads (24 in flight) one worker shed while the other had room.
    threads: int = Field(default=64, ge=1, description="Threads per gthread worker (Granian WSGI: blocking threads).")
    keepalive_s: int = Field(
        default=5, ge=1, description="Idle keep-alive of the server; clients must use a shorter one."
    )
    timeout_s: int = Field(default=30, ge=1, description="A silent worker is restarted after this.")
    graceful_timeout_s: int = Field(default=10, ge=1, description="Grace period for in-flight requests on stop.")
    drain_delay_s: float = Field(
        default=1.0, ge=0, description="On SIGTERM, readiness fails this long before the worker stops accepting."
    )
    max_in_flight: int | None = Field(
        default=None, ge=1, description="Requests per worker before new ones get a fast 503; default: by worker class."
    )
    access_log: bool = Field(default=False, description="Log every request as JSON (server errors are always logged).")
    trust_request_start: bool = Field(
        default=False,
        description="Count each request's deadline from the edge's x-request-start stamp (only behind the edge).",
    )
    backlog: int = Field(default=2048, ge=1, description="Listen queue length.")
    # Limits that keep a worker alive whatever its clients do (the edge enforces tighter ones in front).
    header_timeout_s: float = Field(
        default=5.0, gt=0, description="A request's head must arrive within this; a silent new connection is closed."
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, description="A whole request, body included, must arrive within this of its arrival."
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Connections one worker holds at most (gthread, gevent: worker_connections; Granian: "
        "backpressure).",
    )
    max_header_bytes: int = Field(
        default=16_384, ge=1024, description="Largest request head (431 above it; gunicorn: per header line)."
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1, description="Largest body the server lets through to the app (Expect: 100-continue)."
    )
    log_level: str = Field(default="info", description="gunicorn's error-log level.")

    def worker_count(self) -> int:
        """Workers for this worker class (the formula above unless set)."""
        return self.workers if self.workers is not None else workers_for(self.worker_class, cpu_count())

    def concurrency_per_worker(self) -> int:
        """How many threads serve requests in one worker: gunicorn's ``threads``, Granian's blocking threads.

        Only gthread and Granian's WSGI worker have threads; gunicorn would silently run a ``sync`` worker with
        threads > 1 as gthread, and an event loop (or gevent's hub) is one thread.
        """
        return self.threads if self.worker_class in THREADED_WORKER_CLASSES else 1

    def multiplexes(self) -> bool:
        """True if one thread of a worker serves many requests at once (an event loop, or gevent's green threads)."""
        return self.worker_class in MULTIPLEXING_WORKER_CLASSES

    def in_flight_limit(self) -> int:
        """Requests one worker serves at once before shedding (``SERVER_MAX_IN_FLIGHT`` or the default).

        A safety bound, not the admission rule: requests are refused by their deadline (a request whose
        deadline leaves less than the time a request takes is refused at once, see ``ServicePolicy``),
        so a burst the stack can serve in time is queued rather than shed. uvicorn: 256 (an event loop
        holds many waiting requests). gthread: all its threads; more requests wait for a thread, their
        deadline counted from their arrival. sync and meinheld serve one request at a time. The Granian and
        gevent workers follow the worker they stand in for: an event loop (256) or a pool of threads.
        """
        if self.max_in_flight is not None:
            return self.max_in_flight
        if self.multiplexes():
            return 256
        return self.concurrency_per_worker()
