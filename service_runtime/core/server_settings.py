"""Settings of the process manager (gunicorn) that serves any service (env prefix ``SERVER_``).

Worker counts follow one documented formula, overridable with ``SERVER_WORKERS``:
- ``uvicorn`` (async): one worker per core; each event loop multiplexes all its requests.
- ``gthread`` (sync, default): one worker per core, ``SERVER_THREADS`` threads each
  (concurrency = workers x threads), the sync way to keep many slow upstream calls in flight.
- ``sync``: 2 x cores + 1 (gunicorn's own rule); each worker serves one request at a time.
- ``meinheld``: one worker per core; without monkeypatching each serves one request at a time.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from service_runtime.core.settings import settings_config

WorkerClass = Literal["uvicorn", "gthread", "sync", "meinheld"]


def cpu_count() -> int:
    """Cores this process may run on (respects CPU affinity, unlike os.cpu_count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def workers_for(worker_class: str, cores: int) -> int:
    """The worker formula: ``2 x cores + 1`` for sync workers, one per core otherwise."""
    return 2 * cores + 1 if worker_class == "sync" else cores


class ServerSettings(BaseSettings):
    """How gunicorn serves one service: bind address, worker class and counts, timeouts."""

    model_config = settings_config("SERVER_")

    name: str = Field(default="service", description="Process name shown by ps.")
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to bind.")
    worker_class: WorkerClass = Field(default="gthread", description="uvicorn, gthread, sync or meinheld.")
    workers: int | None = Field(
        default=None, ge=1, description="Worker processes; default: by worker class (cores, or 2 x cores + 1 for sync)."
    )
    # 64, not 32: keep-alive connections stick to the worker that accepted them, and the spread
    # is uneven; with 32 threads (24 in flight) one worker shed while the other had room.
    threads: int = Field(default=64, ge=1, description="Threads per gthread worker.")
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
    backlog: int = Field(default=2048, ge=1, description="Listen queue length.")
    log_level: str = Field(default="info", description="gunicorn's error-log level.")

    def worker_count(self) -> int:
        """Workers for this worker class (the formula above unless set)."""
        return self.workers if self.workers is not None else workers_for(self.worker_class, cpu_count())

    def concurrency_per_worker(self) -> int:
        """How many requests one worker serves at once: gunicorn's ``threads``, and the size of its pools.

        Only gthread has threads; gunicorn would silently run a ``sync`` worker with threads > 1 as gthread.
        """
        return self.threads if self.worker_class == "gthread" else 1

    def in_flight_limit(self) -> int:
        """Requests one worker accepts at once before shedding (``SERVER_MAX_IN_FLIGHT`` or the default).

        uvicorn: 256 (an event loop can hold many waiting requests; past that, queueing only
        adds latency). gthread: three quarters of the threads, so that the last quarter stays
        free to refuse the excess in microseconds instead of leaving it queued behind busy
        threads. sync and meinheld serve one request at a time and cannot shed.
        """
        if self.max_in_flight is not None:
            return self.max_in_flight
        if self.worker_class == "uvicorn":
            return 256
        if self.worker_class == "gthread":
            return max(1, self.threads * 3 // 4)
        return 1
