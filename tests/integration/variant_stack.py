"""One stack served by a server variant, as real processes: the commands ``server_variants`` gives, on free ports, with
a real Redis (``tests.reference.stack``'s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import requests

from reference.api import HEALTH_PATH, predict_path
from server_variants import server_argv, server_env
from system_launcher.net import free_ports
from tests.reference.stack import Redis, Service

# The apps every variant serves: the services as make up runs them.
APPS = "apps"


def factory(kind: str, stack: str) -> str:
    """The app factory of a ``scoring`` or ``model`` service of ``stack``."""
    return f"{APPS}.{kind}_{stack}:create_app"


@dataclass
class VariantStack:
    """The three services of one stack, each served by ``variant``."""

    variant: str
    stack: str
    redis: Redis
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def predict_url(self) -> str:
        return self.services["scoring"].url + predict_path(self.stack)

    def start(self, role: str, **env: str) -> Service:
        """Start ``role`` and wait until it answers its liveness probe (scoring: two workers unless told)."""
        base = {}
        if role == "scoring":
            models = [self.services[m].url + predict_path(self.stack) for m in ("model_a", "model_b")]
            base = {"REDIS_URL": self.redis.url, "SCORING_MODEL_URLS": json.dumps(models), "SERVER_WORKERS": "2"}
        service = start_service(self.variant, self.stack, role, self.log_dir, **(base | self.env | env))
        self.services[role] = service
        return service

    def stop(self) -> None:
        """Stop every service (SIGTERM to each server's process group, SIGKILL if it lingers)."""
        for service in self.services.values():
            service.stop()


@contextmanager
def running_variant(variant: str, stack: str, redis: Redis, log_dir: Path, **env: str) -> Iterator[VariantStack]:
    """Both models, then scoring, of ``stack`` on ``variant`` (``env`` for all three), until the block ends."""
    running = VariantStack(variant, stack, redis, log_dir, env)
    try:
        for role in ("model_a", "model_b", "scoring"):
            running.start(role)
        yield running
    finally:
        running.stop()


def start_service(variant: str, stack: str, role: str, log_dir: Path, **env: str) -> Service:
    """``role`` of ``stack`` (``model_a``, ``model_b`` or ``scoring``) served by ``variant`` on a free port, once it
    answers its liveness probe."""
    (port,) = free_ports(1)
    kind = "scoring" if role == "scoring" else "model"
    environ = os.environ | {"SERVER_NAME": f"{stack}-{role}", "SERVER_PORT": str(port), "SERVER_WORKERS": "1",
                            "SERVER_THREADS": "16", "MODEL_NAME": role, "MODEL_GRPC_PORT": "0",  # gRPC: any free port
                            **server_env(variant), **env}  # fmt: skip
    log = log_dir / f"{variant}-{stack}-{role}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(server_argv(variant, factory(kind, stack), sys.executable), env=environ,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    service = Service(role, port, process, log)
    try:
        wait_until(lambda: requests.get(service.url + HEALTH_PATH, timeout=1).status_code == 200, 60, process)
    except BaseException:
        service.stop()
        raise
    return service


def log_lines(service: Service) -> list[dict]:
    """The JSON lines of a service's log."""
    return [json.loads(line) for line in service.log.read_text().splitlines() if line.startswith("{")]


def wait_until(check: Callable[[], bool], timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Return once ``check()`` is true; fail if ``process`` exits first, or after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before it answered")
        with suppress(OSError, requests.RequestException):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"not true within {timeout_s}s")
