"""One stack with its job workers, for the job-mode tests: started by the project's supervisor on free ports, with
its own durable Redis, and models slowed so that a job's run lasts long enough to be caught in the middle."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import redis
import requests

from job_queue.schema import GROUP, JobKeys
from service_runtime.core.topology import HEALTHCHECK_PATH, Stack, jobs_path
from system_launcher.net import free_port_block, free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import pid_alive, pid_stopped
from system_launcher.registry import JobWorker, job_workers, service, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Process, Supervisor

WORKERS = 2
CONCURRENCY = 4  # per worker
MAX_QUEUE = 120  # room for the 100-entity test at once; a full queue is quick to fill
VISIBILITY_S = 2.0
MODEL_WAIT_MS = (250, 300)  # each job runs about this long
DEADLINE_S = 2.0  # the scoring deadline, for the predict route and for a job's run alike


class JobStack:
    """Redis, model_a, model_b, scoring behind its edge, and ``WORKERS`` job workers of one stack."""

    def __init__(self, stack: Stack, base: Path) -> None:
        self.stack = stack
        singles = free_ports(PORTS_PER_STACK)
        first = free_port_block(WORKERS, avoid=singles)
        self.settings = StackSettings(**one_stack_ports(stack, singles, first), log_dir=base / "log",
                                      run_dir=base / "run", redis_dir=base / "redis", job_workers=WORKERS)  # fmt: skip
        self.scoring = service(stack, "scoring")
        self.workers = job_workers(self.settings, [stack])
        # Timeouts roomy within the deadline: the tests are about jobs, not about a busy machine's slow replies.
        queue = {"JOBS_MAX_QUEUE": str(MAX_QUEUE), "JOBS_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
                 "JOBS_REDIS_TIMEOUT_S": "1.0"}  # fmt: skip
        scoring = queue | {"SCORING_DEADLINE_S": str(DEADLINE_S), "SCORING_MODEL_TIMEOUT_S": str(DEADLINE_S - 0.5),
                           "SCORING_REDIS_TIMEOUT_S": "0.5", "SCORING_MODEL_CONNECT_TIMEOUT_S": "0.5"}  # fmt: skip
        worker = scoring | {"WORKER_CONCURRENCY": str(CONCURRENCY), "WORKER_POLL_S": "0.2",
                            "WORKER_RECLAIM_INTERVAL_S": "0.2"}  # fmt: skip
        model = {"MODEL_WAIT_MIN_MS": str(MODEL_WAIT_MS[0]), "MODEL_WAIT_MAX_MS": str(MODEL_WAIT_MS[1])}
        overrides = {self.scoring.name: scoring, **{w.name: worker for w in self.workers}}
        overrides |= {service(stack, role).name: model for role in ("model_a", "model_b")}
        self.supervisor = Supervisor(self.settings, stack_services(stack), overrides=overrides)
        self.keys = JobKeys(stack)

    def __enter__(self) -> JobStack:
        self.supervisor.start(say=lambda _: None)
        self.redis = redis.Redis.from_url(self.settings.effective_redis_url(), socket_timeout=2)
        return self

    def __exit__(self, *exc) -> None:
        pids = [p.popen.pid for p in self.supervisor.processes]
        self.redis.close()
        self.supervisor.stop()
        assert [p for p in pids if pid_alive(p)] == [], "processes left behind"

    @property
    def jobs_url(self) -> str:
        """Where jobs are submitted, through the edge as users reach it."""
        return self.scoring.url(self.settings, jobs_path(self.stack))

    def url(self, path: str) -> str:
        """A path of the scoring service, through the edge."""
        return self.scoring.url(self.settings, path)

    def process(self, worker: JobWorker) -> Process:
        return self.supervisor.process(worker.name)

    def holder(self, job_id: str) -> JobWorker:
        """The worker that last started a job (its consumer name ends with its pid)."""
        consumer = self.redis.hget(self.keys.record(job_id), "worker").decode()
        pid = int(consumer.rsplit("-", 1)[1])
        return next(w for w in self.workers if self.process(w).popen.pid == pid)

    def signal(self, worker: JobWorker, sig: int) -> None:
        os.killpg(self.process(worker).popen.pid, sig)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Every worker frozen (SIGSTOP) for the block, then thawed."""
        for worker in self.workers:
            self.signal(worker, signal.SIGSTOP)
        try:
            yield
        finally:
            for worker in self.workers:
                self.signal(worker, signal.SIGCONT)

    def restart(self, worker: JobWorker) -> None:
        """Start a worker again (after it was killed or stopped) and wait until it is healthy."""
        self.supervisor.start_job_worker(worker)
        url = worker.url(self.settings, HEALTHCHECK_PATH)
        wait_until(lambda: requests.get(url, timeout=0.5).status_code == 200, 30, (requests.RequestException,))

    def catch_mid_job(self, job_id: str, sig: int) -> JobWorker | None:
        """SIGKILL or SIGSTOP the worker running ``job_id``: that worker if the job was still running once the signal
        took effect; else None, with the signal undone (a killed worker restarted, a stopped one continued)."""
        self.wait_status(job_id, {"running"}, 5)
        worker = self.holder(job_id)
        popen = self.process(worker).popen
        self.signal(worker, sig)
        if sig == signal.SIGKILL:
            popen.wait(timeout=5)
        else:
            wait_until(lambda: pid_stopped(popen.pid), 5, interval_s=0.01)
        if self.redis.hget(self.keys.record(job_id), "status") == b"running" and self.holder(job_id) == worker:
            return worker
        if sig == signal.SIGKILL:
            self.restart(worker)
        else:
            self.signal(worker, signal.SIGCONT)
        return None

    def depth(self) -> int:
        """Entries in the stream: jobs accepted and not finished."""
        return self.redis.xlen(self.keys.stream)

    def pending(self) -> int:
        """Entries delivered to a worker and not acknowledged."""
        return self.redis.xpending(self.keys.stream, GROUP)["pending"]

    def wait_drained(self, timeout_s: float) -> None:
        """Until no job is left in the queue and none is pending."""
        wait_until(lambda: self.depth() == 0 and self.pending() == 0, timeout_s, (redis.RedisError,), 0.05)

    def wait_status(self, job_id: str, statuses: set[str], timeout_s: float) -> None:
        """Until the job's record has one of ``statuses``."""

        def reached() -> bool:
            status = self.redis.hget(self.keys.record(job_id), "status")
            return status is not None and status.decode() in statuses

        wait_until(reached, timeout_s, (redis.RedisError,), 0.01)


def elapsed_since(start: float) -> float:
    return time.monotonic() - start
