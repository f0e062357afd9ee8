"""One stack with its job workers, for the job-mode tests: a durable Redis, model_a, model_b and scoring as real
gunicorn processes on free ports, and ``WORKERS`` job worker processes; the models are slowed so that a job's run
lasts long enough to be caught in the middle."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from job_queue.api import jobs_path
from job_queue.schema import GROUP, JobKeys
from reference.api import HEALTH_PATH, READY_PATH, predict_path
from reference.core import FEATURE_NAMES, SEED_MARKER_KEY, entity_key
from system_launcher.net import free_ports
from system_launcher.procfs import pid_alive, pid_stopped
from system_launcher.redis_server import find_redis_server
from tests.reference.stack import features_of

WORKERS = 2
CONCURRENCY = 4  # per worker
MAX_QUEUE = 120  # room for the 100-entity test at once; a full queue is quick to fill
VISIBILITY_S = 2.0
MODEL_WAIT_MS = (250, 300)  # each job runs about this long
DEADLINE_S = 2.0  # the scoring deadline, for the predict route and for a job's run alike
# Redis timeouts roomy within the deadline: the tests are about jobs, not about a busy machine's slow replies.
ROOMY_STORE_TIMEOUTS = {"SCORING_REDIS_TIMEOUT_S": "0.5", "SCORING_CONNECT_TIMEOUT_S": "0.5"}
ENTITIES = 500
GUNICORN_WORKER = {"async": "reference.web_async.UvicornWorker", "sync": "gthread"}
# The services as make up runs them.
APPS = {"scoring": "apps.scoring_{stack}:create_app()", "model": "apps.model_{stack}:create_app()"}
WORKER_ARGV = [sys.executable, "-m", "job_worker"]
START_S = 60  # a process must answer its liveness probe within this (a busy machine imports slowly)


@dataclass
class Process:
    """One process started in its own process group (a gunicorn master and its workers, a job worker, Redis), its
    port, and its log."""

    name: str
    port: int
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def signal(self, sig: int) -> None:
        """Signal its whole process group."""
        os.killpg(self.pid, sig)

    def stop(self) -> None:
        """SIGTERM to its group (SIGCONT too, in case it is stopped), SIGKILL if it lingers."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGTERM)
                self.signal(signal.SIGCONT)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=5)


def spawn(name: str, argv: list[str], env: dict[str, str], port: int, log: Path) -> Process:
    """Start ``argv`` in a process group of its own, its output appended to ``log``."""
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        popen = subprocess.Popen(argv, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)  # fmt: skip
    return Process(name, port, popen, log)


def wait_for(check: Callable[[], object], timeout_s: float, process: Process | None = None, interval_s=0.05) -> None:
    """Until ``check`` is true (its I/O errors count as not yet); fails early if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}: see {process.log}")
        with contextlib.suppress(OSError, redis.RedisError, requests.RequestException):
            if check():
                return
        time.sleep(interval_s)
    raise TimeoutError(f"condition not met within {timeout_s}s")


class JobStack:
    """Redis, model_a, model_b, scoring and ``WORKERS`` job workers of one stack."""

    def __init__(self, stack: str, base: Path) -> None:
        self.stack, self.base = stack, base
        self.keys = JobKeys(stack)
        self.processes: dict[str, Process] = {}
        self.workers: list[str] = [f"{stack}-jobs-worker-{i}" for i in range(WORKERS)]
        self._ports = dict(zip(["redis", "model_a", "model_b", "scoring", *self.workers],
                               free_ports(4 + WORKERS), strict=True))  # fmt: skip
        self.redis_url = f"redis://127.0.0.1:{self._ports['redis']}/0"
        models = [f"http://127.0.0.1:{self._ports[m]}{predict_path(stack)}" for m in ("model_a", "model_b")]
        queue = {"REDIS_URL": self.redis_url, "JOBS_MAX_QUEUE": str(MAX_QUEUE),
                 "JOBS_VISIBILITY_TIMEOUT_S": str(VISIBILITY_S), "JOBS_REDIS_TIMEOUT_S": "1.0"}  # fmt: skip
        self.scoring_env = queue | ROOMY_STORE_TIMEOUTS | {
            "SCORING_MODEL_URLS": str(models).replace("'", '"'), "SCORING_DEADLINE_S": str(DEADLINE_S),
            "SCORING_MODEL_TIMEOUT_S": str(DEADLINE_S - 0.5),
        }  # fmt: skip
        self.worker_env = self.scoring_env | {"WORKER_STACK": stack, "WORKER_CONCURRENCY": str(CONCURRENCY),
                                              "WORKER_POLL_S": "0.2", "WORKER_RECLAIM_INTERVAL_S": "0.2"}  # fmt: skip

    def __enter__(self) -> JobStack:
        try:
            self.start_redis()
            self.seed()
            for model in ("model_a", "model_b"):
                self._serve(model, APPS["model"], {"MODEL_NAME": model, "MODEL_GRPC": "false", "SERVER_WORKERS": "1",
                                                   "SERVER_THREADS": "32", "MODEL_WAIT_MIN_MS": str(MODEL_WAIT_MS[0]),
                                                   "MODEL_WAIT_MAX_MS": str(MODEL_WAIT_MS[1])})  # fmt: skip
            self._serve("scoring", APPS["scoring"], self.scoring_env | {"SERVER_WORKERS": "2", "SERVER_THREADS": "16"})
            for worker in self.workers:
                self.start_worker(worker)
        except BaseException:
            self.stop()
            raise
        self.redis = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        return self

    def __exit__(self, *exc) -> None:
        self.redis.close()
        pids = [p.pid for p in self.processes.values()]
        self.stop()
        assert [p for p in pids if pid_alive(p)] == [], "processes left behind"

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            process.stop()

    def start_redis(self) -> None:
        """Redis with an append-only file (accepted jobs survive a restart, as under make up), in the same
        directory every time."""
        port, data = self._ports["redis"], self.base / "redis"
        data.mkdir(exist_ok=True)
        argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                "--appendfsync", "always", "--dir", str(data)]  # fmt: skip
        process = spawn("redis", argv, {}, port, self.base / "redis.log")
        self.processes["redis"] = process
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2)
        try:
            wait_for(client.ping, START_S, process)
        finally:
            client.close()

    def seed(self) -> None:
        """``ENTITIES`` entities (ids 0, 1...) and the seed's marker."""
        with contextlib.closing(redis.Redis.from_url(self.redis_url, socket_timeout=2)) as client:
            pipe = client.pipeline(transaction=False)
            for i in range(ENTITIES):
                pipe.hset(entity_key(str(i)), mapping=dict(zip(FEATURE_NAMES, map(repr, features_of(str(i))),
                                                               strict=True)))  # fmt: skip
            pipe.hset(SEED_MARKER_KEY, mapping={"entities": ENTITIES})
            pipe.execute()

    def _serve(self, role: str, app: str, env: dict[str, str]) -> None:
        port = self._ports[role]
        argv = [sys.executable, "-m", "gunicorn", "-c", "python:reference.gunicorn_conf", "-k",
                GUNICORN_WORKER[self.stack], app.format(stack=self.stack)]  # fmt: skip
        env = env | {"SERVER_NAME": f"{self.stack}-{role}", "SERVER_PORT": str(port)}
        process = spawn(role, argv, env, port, self.base / f"{role}.log")
        self.processes[role] = process
        wait_for(lambda: requests.get(process.url(HEALTH_PATH), timeout=1).status_code == 200, START_S, process)

    def start_worker(self, name: str) -> None:
        """Start a job worker (again, after it was killed or stopped), and wait until it is ready: reading the
        queue."""
        port = self._ports[name]
        env = self.worker_env | {"WORKER_PORT": str(port)}
        process = spawn(name, WORKER_ARGV, env, port, self.base / f"{name}.log")
        self.processes[name] = process
        wait_for(lambda: requests.get(process.url(READY_PATH), timeout=1).status_code == 200, START_S, process)

    def process(self, name: str) -> Process:
        return self.processes[name]

    @property
    def jobs_url(self) -> str:
        """Where jobs are submitted."""
        return self.url(jobs_path(self.stack))

    def url(self, path: str) -> str:
        """A path of the scoring service."""
        return self.processes["scoring"].url(path)

    def holder(self, job_id: str) -> str:
        """The worker that last started a job (its consumer name ends with its pid)."""
        consumer = self.redis.hget(self.keys.record(job_id), "worker").decode()
        pid = int(consumer.rsplit("-", 1)[1])
        return next(w for w in self.workers if self.processes[w].pid == pid)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Every worker frozen (SIGSTOP) for the block, then thawed."""
        for worker in self.workers:
            self.processes[worker].signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for worker in self.workers:
                self.processes[worker].signal(signal.SIGCONT)

    def catch_mid_job(self, job_id: str, sig: int) -> str | None:
        """SIGKILL or SIGSTOP the worker running ``job_id``: that worker if the job was still running once the signal
        took effect; else None, with the signal undone (a killed worker restarted, a stopped one continued)."""
        self.wait_status(job_id, {"running"}, 5)
        worker = self.holder(job_id)
        process = self.processes[worker]
        process.signal(sig)
        if sig == signal.SIGKILL:
            process.popen.wait(timeout=5)
        else:
            wait_for(lambda: pid_stopped(process.pid), 5, interval_s=0.01)
        if self.redis.hget(self.keys.record(job_id), "status") == b"running" and self.holder(job_id) == worker:
            return worker
        if sig == signal.SIGKILL:
            self.start_worker(worker)
        else:
            process.signal(signal.SIGCONT)
        return None

    def restart_redis(self) -> None:
        """Redis shut down without a snapshot (only its append-only file keeps the jobs), and started again."""
        with contextlib.suppress(redis.ConnectionError):  # the server closes this connection as it exits
            self.redis.shutdown(nosave=True)
        self.processes["redis"].popen.wait(timeout=10)
        self.start_redis()

    def depth(self) -> int:
        """Entries in the stream: jobs accepted and not finished."""
        return self.redis.xlen(self.keys.stream)

    def pending(self) -> int:
        """Entries delivered to a worker and not acknowledged."""
        return self.redis.xpending(self.keys.stream, GROUP)["pending"]

    def wait_drained(self, timeout_s: float) -> None:
        """Until no job is left in the queue and none is pending."""
        wait_for(lambda: self.depth() == 0 and self.pending() == 0, timeout_s)

    def wait_status(self, job_id: str, statuses: set[str], timeout_s: float) -> None:
        """Until the job's record has one of ``statuses``."""

        def reached() -> bool:
            status = self.redis.hget(self.keys.record(job_id), "status")
            return status is not None and status.decode() in statuses

        wait_for(reached, timeout_s, interval_s=0.01)
