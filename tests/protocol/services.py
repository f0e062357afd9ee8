"""Services of one stack as real gunicorn processes on free ports, started as make up starts them: the model
services with their gRPC servers beside HTTP, and a scoring service calling them over a chosen transport."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from reference.api import HEALTH_PATH, predict_path
from system_launcher.net import free_ports
from system_launcher.procfs import children

MODELS = ("model_a", "model_b")
WORKER = {"async": "reference.web_async.UvicornWorker", "sync": "gthread"}


def app_of(role: str, stack: str) -> str:
    """The app factory gunicorn serves for ``role``: ``apps.model_async:create_app()``..."""
    kind = "scoring" if role == "scoring" else "model"
    return f"apps.{kind}_{stack}:create_app()"


@dataclass
class Running:
    """One gunicorn master (its own process group) and where it listens, over HTTP and gRPC."""

    name: str
    port: int
    grpc_port: int | None
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the master and its workers."""
        os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            self.signal(signal.SIGCONT)  # a frozen group cannot stop
            self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=5)


def start(role: str, stack: str, log: Path, port: int | None = None, grpc_port: int | None = None,
          **env: str) -> Running:  # fmt: skip
    """Start ``role`` (a model, or scoring) of ``stack`` and wait until it answers over HTTP and, a model, gRPC."""
    port = port or free_ports(1)[0]
    environ = os.environ | {"SERVER_NAME": f"{stack}-{role}", "SERVER_PORT": str(port), "SERVER_WORKERS": "2",
                            "SERVER_THREADS": "16"}  # fmt: skip
    if role != "scoring":
        grpc_port = grpc_port or free_ports(1)[0]
        environ |= {"MODEL_NAME": role, "MODEL_GRPC_PORT": str(grpc_port)}
    environ |= env
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:reference.gunicorn_conf", "-k", WORKER[stack],
             app_of(role, stack)],
            env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    running = Running(role, port, grpc_port, process, log)
    try:
        wait(lambda: requests.get(running.url + HEALTH_PATH, timeout=1).status_code == 200, 60, process)
        if grpc_port is not None:
            wait(lambda: grpc_serving(running.grpc_target), 30, process)
    except BaseException:
        running.stop()
        raise
    return running


def grpc_serving(target: str) -> bool:
    """True when the gRPC server at ``target`` says it serves."""
    with grpc.insecure_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
    return answer.status == health_pb2.HealthCheckResponse.SERVING


@contextmanager
def running_models(stack: str, logs: Path, **env: str) -> Iterator[dict[str, Running]]:
    """Both model services of ``stack``, until the block ends."""
    started: dict[str, Running] = {}
    try:
        for model in MODELS:
            started[model] = start(model, stack, logs / f"{stack}-{model}.log", **env)
        yield started
    finally:
        for running in started.values():
            running.stop()


def scoring_env(stack: str, models: dict[str, Running], redis_url: str, protocol: str,
                grpc_targets: list[str] | None = None) -> dict[str, str]:  # fmt: skip
    """What a scoring service needs to reach Redis and ``models`` over ``protocol``."""
    urls = [models[m].url + predict_path(stack) for m in MODELS]
    targets = grpc_targets or [models[m].grpc_target for m in MODELS]
    return {"REDIS_URL": redis_url, "SCORING_MODEL_URLS": _json_list(urls), "SCORING_MODEL_PROTOCOL": protocol,
            "SCORING_MODEL_GRPC_TARGETS": _json_list(targets), "SERVER_WORKERS": "1"}  # fmt: skip


def _json_list(items: list[str]) -> str:
    return "[" + ",".join(f'"{item}"' for item in items) + "]"


def wait(check: Callable[[], bool], timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Until ``check`` holds (its errors count as not yet), the process still running; else an error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before it answered")
        with suppress(OSError, requests.RequestException, grpc.RpcError):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"not up within {timeout_s}s")
