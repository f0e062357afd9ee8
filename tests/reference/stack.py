"""One stack of the reference as real processes: Redis, then gunicorn serving model_a, model_b and scoring."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from reference.api import HEALTH_PATH, Score, combine, predict_path
from reference.core import FEATURE_NAMES, SEED_MARKER_KEY, LogisticModel, entity_key
from system_launcher.net import free_ports
from system_launcher.redis_server import find_redis_server

WORKER = {"async": "reference.web_async.UvicornWorker", "sync": "gthread"}
ENTITIES = 40


def features_of(entity_id: str) -> tuple[float, ...]:
    """A test entity's stored features: a pure function of its id."""
    n = int(entity_id)
    return (4.3 + (n % 37) / 10, 2.0 + (n % 23) / 10, 1.0 + (n % 59) / 10, 0.1 + (n % 24) / 10)


def expected(entity_id: str | None, vector: tuple[float, ...]) -> Score:
    """The answer both stacks must give, computed by the reference's own pure code."""
    models = [LogisticModel.load(name) for name in ("model_a", "model_b")]
    from reference.api import Prediction

    outcomes = [(m.name, Prediction(model=m.name, version=m.version, prediction=m.predict(vector))) for m in models]
    return combine(entity_id, outcomes)


@dataclass
class Redis:
    """A real redis-server on a free port, seeded with ``ENTITIES`` entities."""

    url: str
    process: subprocess.Popen

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)


@contextmanager
def running_redis(tmp: Path) -> Iterator[Redis]:
    """Redis, seeded, for as long as the block runs."""
    (port,) = free_ports(1)
    process = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--dir", str(tmp)], stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    server = Redis(f"redis://127.0.0.1:{port}/0", process)
    try:
        client = server.client()
        _wait(lambda: client.ping(), 10)
        for i in range(ENTITIES):
            client.hset(
                entity_key(str(i)), mapping=dict(zip(FEATURE_NAMES, map(repr, features_of(str(i))), strict=True))
            )
        client.hset(SEED_MARKER_KEY, mapping={"entities": ENTITIES})
        client.close()
        yield server
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Service:
    """One gunicorn master (its own process group) and where it listens."""

    name: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


@dataclass
class Stack:
    """The three services of one stack."""

    stack: str
    redis: Redis
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def predict_url(self) -> str:
        return self.services["scoring"].url + predict_path(self.stack)

    def start(self, role: str, tmp: Path, **env: str) -> Service:
        """Start (or restart) ``role`` on its port, and wait until it answers."""
        old = self.services.get(role)
        if old is not None:
            old.stop()
        (port,) = [old.port] if old else free_ports(1)
        kind = "scoring" if role == "scoring" else "model"
        environ = os.environ | {"SERVER_NAME": f"{self.stack}-{role}", "SERVER_PORT": str(port), "SERVER_WORKERS": "2",
                                "SERVER_THREADS": "16"}  # fmt: skip
        if kind == "model":
            environ["MODEL_NAME"] = role
        else:
            models = [self.services[m].url + predict_path(self.stack) for m in ("model_a", "model_b")]
            # Generous budgets: a test machine shares its cores; the deadline's own behaviour is tested on purpose.
            environ |= {
                "REDIS_URL": self.redis.url,
                "SCORING_MODEL_URLS": str(models).replace("'", '"'),
                "SCORING_DEADLINE_S": "4",
                "SCORING_MODEL_TIMEOUT_S": "3",
                "SCORING_CONNECT_TIMEOUT_S": "2",
            }
        environ |= env
        log = tmp / f"{self.stack}-{role}.log"
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:reference.gunicorn_conf", "-k", WORKER[self.stack],
                 f"reference.{kind}_{self.stack}:create_app()"],
                env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        service = Service(role, port, process, log)
        self.services[role] = service
        _wait(lambda: requests.get(service.url + HEALTH_PATH, timeout=1).status_code == 200, 30, process)
        return service

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


@contextmanager
def running_stack(stack: str, redis_server: Redis, tmp: Path, **scoring_env: str) -> Iterator[Stack]:
    """Both models, then scoring, of ``stack``, until the block ends."""
    running = Stack(stack, redis_server)
    try:
        for role in ("model_a", "model_b"):
            running.start(role, tmp)
        running.start("scoring", tmp, **scoring_env)
        yield running
    finally:
        running.stop()


def _wait(check, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before it answered")
        with suppress(OSError, redis.RedisError, requests.RequestException):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"not up within {timeout_s}s")
