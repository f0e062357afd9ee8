"""Settings of a job worker process (env prefix ``WORKER_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.settings import settings_config

MAX_CONCURRENCY = 1024
# The probe port of each stack's first worker, beside its scoring service's (8000-8002 async, 5000-5002 sync).
PROBE_PORTS = {"async": 8003, "sync": 5003}


class WorkerSettings(BaseSettings):
    """One job worker: its stack, how many jobs it runs at once, its probe port, how it drains."""

    model_config = settings_config("WORKER_")

    stack: Literal["async", "sync"] = Field(
        "async", description="The stack whose queue it serves: async (asyncio) or sync (a thread pool)."
    )
    host: str = Field("127.0.0.1", description="Address of its health probes and /metrics.")
    port: int | None = Field(None, ge=1, le=65535, description="Their port; default: 8003 async, 5003 sync.")
    concurrency: int = Field(
        32, ge=1, le=MAX_CONCURRENCY,
        description="Jobs one worker runs at once (async: tasks on its event loop; sync: threads).",
    )  # fmt: skip
    grace_s: float = Field(10.0, gt=0, description="On SIGTERM: time to finish the jobs in hand (no new one is taken).")
    poll_s: float = Field(
        1.0, gt=0, le=30, description="Longest wait for a new job in one read (a stop waits at most this)."
    )
    reclaim_interval_s: float = Field(
        1.0, gt=0, description="How often it looks for jobs whose worker went silent, and samples the queue."
    )
    consumer_idle_s: float = Field(
        300.0, gt=0, description="A consumer (a worker gone) this idle and holding no job is removed."
    )
    name: str | None = Field(None, description="Its consumer name in the group; default: <stack>-<host name>-<pid>.")
    log_level: str = Field("info", description="Log level.")

    def probe_port(self) -> int:
        """Where its probes and /metrics listen."""
        return self.port or PROBE_PORTS[self.stack]
