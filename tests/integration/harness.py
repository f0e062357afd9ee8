"""Helpers for integration tests: the launcher as a subprocess, and the environment that places it."""

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

import requests

from reference.api import HEALTH_PATH
from system_launcher.net import free_port_block
from system_launcher.polling import wait_until
from system_launcher.procfs import descendants
from system_launcher.registry import Service, service_argv, service_env, settings_of
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "all six services are healthy"  # then " behind their edges" when they run
LAUNCHER = [sys.executable, "-m", "system_launcher"]


# Every port the launcher binds: six services, Redis, then per stack the scoring backend and the edge's metrics,
# then the four model services' gRPC ports.
PORT_NAMES = ["ASYNC_MODEL_A", "ASYNC_SCORING", "ASYNC_MODEL_B", "SYNC_MODEL_A", "SYNC_SCORING", "SYNC_MODEL_B",
              "REDIS", "ASYNC_SCORING_BACKEND", "SYNC_SCORING_BACKEND", "ASYNC_EDGE_METRICS", "SYNC_EDGE_METRICS",
              "ASYNC_MODEL_A_GRPC", "ASYNC_MODEL_B_GRPC", "SYNC_MODEL_A_GRPC", "SYNC_MODEL_B_GRPC"]  # fmt: skip
LAUNCHER_PORTS = len(PORT_NAMES)
JOB_WORKERS = 2  # per stack


def stack_env(ports: list[int], log_dir: Path, **extra: str) -> dict[str, str]:
    """STACK_* variables for a launcher on the given ``LAUNCHER_PORTS`` ports (in ``PORT_NAMES`` order), each stack's
    job workers on a block of free ports of their own, and Redis' files beside the logs."""
    env = {f"STACK_{name}_PORT": str(port) for name, port in zip(PORT_NAMES, ports, strict=True)}
    for stack in ("ASYNC", "SYNC"):
        first = free_port_block(JOB_WORKERS, avoid=[int(v) for v in env.values()])
        env[f"STACK_{stack}_JOBS_WORKER_PORT"] = str(first)
    return (
        env
        | {
            "STACK_LOG_DIR": str(log_dir),
            "STACK_RUN_DIR": str(log_dir.parent / "run"),
            "STACK_REDIS_DIR": str(log_dir.parent / "redis"),
            "STACK_JOB_WORKERS": str(JOB_WORKERS),
        }
        | extra
    )


def settings_from_env(env: dict[str, str]) -> StackSettings:
    """The StackSettings a launcher started with ``env`` uses."""
    return settings_of(StackSettings, env)


@dataclass
class Launcher:
    """``python -m system_launcher`` (what ``make up`` runs) as a subprocess."""

    popen: subprocess.Popen
    output: Path
    settings: StackSettings
    env: dict[str, str] = field(default_factory=dict)  # the settings it was started with

    @classmethod
    def start(cls, env: dict[str, str], output: Path, timeout_s: float = 120) -> Launcher:
        """Start the launcher and wait until it reports every service healthy."""
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("STACK_", "SERVER_", "SCORING_", "MODEL_", "EDGE_", "REDIS_"))}  # fmt: skip
        with output.open("wb") as out:
            popen = subprocess.Popen(LAUNCHER, cwd=ROOT, env=clean | env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)  # fmt: skip
        launcher = cls(popen, output, settings_from_env(env), dict(env))
        deadline = time.monotonic() + timeout_s
        while READY_LINE not in launcher.text():
            if popen.poll() is not None or time.monotonic() > deadline:
                launcher.interrupt()
                raise RuntimeError(f"the launcher did not become ready:\n{launcher.text()}")
            time.sleep(0.2)
        return launcher

    def text(self) -> str:
        """Everything it printed so far."""
        return self.output.read_text(errors="replace")

    def descendants(self) -> list[int]:
        """Pids of every process below the launcher."""
        return descendants(self.popen.pid)

    def interrupt(self, timeout_s: float = 40) -> int:
        """Ctrl-C, and its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise


@contextmanager
def extra_service(svc: Service, settings: StackSettings, log: Path, **overrides: str) -> Iterator[subprocess.Popen]:
    """One more process of ``svc`` beside a running system, started with the registry's command and environment
    (``overrides`` last, e.g. its own ``SERVER_PORT``), healthy on entry, stopped (SIGTERM to its group) on exit."""
    env = service_env(svc, settings) | overrides
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SERVER_", "SCORING_", "MODEL_", "REDIS_"))}
    with log.open("wb") as out:
        popen = subprocess.Popen(service_argv(svc, settings, sys.executable), cwd=ROOT, env=clean | env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)  # fmt: skip
    health = f"http://127.0.0.1:{env['SERVER_PORT']}{HEALTH_PATH}"
    try:
        wait_until(lambda: popen.poll() is not None or _answers(health), 60)
        assert popen.poll() is None, log.read_text()
        yield popen
    finally:
        with suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        try:
            popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=0.5).status_code == 200
    except requests.RequestException:
        return False
