"""Settings of a job worker process (env prefix ``WORKER_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from service_runtime.core.settings import settings_config
from service_runtime.core.topology import DEFAULT_JOBS_WORKER_PORTS, Stack

MAX_CONCURRENCY = 1024


class WorkerSettings(BaseSettings):
    """One job worker: its stack, how many jobs it runs at once, its probe port, how it drains."""

    model_config = settings_config("WORKER_")

    stack: Stack = Field(default="async", description="The stack whose queue it serves: async (asyncio) or sync "
                         "(a thread pool).")  # fmt: skip
    host: str = Field(default="127.0.0.1", description="Address of its health probe and /metrics.")
    port: int = Field(default=DEFAULT_JOBS_WORKER_PORTS["async"], ge=1, le=65535, description="Their port.")
    concurrency: int = Field(
        default=32, ge=1, le=MAX_CONCURRENCY,
        description="Jobs one worker runs at once (async: tasks on its event loop; sync: threads).",
    )  # fmt: skip
    grace_s: float = Field(
        default=10.0, gt=0, description="On SIGTERM: time to finish the jobs in hand (no new one is taken)."
    )
    poll_s: float = Field(
        default=1.0, gt=0, le=30, description="Longest wait for a new job in one read (a stop waits at most this)."
    )
    reclaim_interval_s: float = Field(
        default=1.0, gt=0, description="How often it looks for jobs whose worker went silent, and samples the queue."
    )
    consumer_idle_s: float = Field(
        default=300.0, gt=0, description="A consumer (a worker gone) this idle and holding no job is removed."
    )
    name: str | None = Field(
        default=None, description="Its consumer name in the group; default: <stack>-<host name>-<pid>."
    )
    log_level: str = Field(default="info", description="Log level.")
