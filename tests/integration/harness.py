"""Helpers for integration tests: free ports, the launcher as a subprocess, expected scores."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark.expected import expected_answer, expected_body, expected_features
from faults.harness import free_ports, pid_alive
from stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "all six services are healthy"
__all__ = [
    "expected_answer",
    "expected_body",
    "expected_features",
    "free_ports",
    "pid_alive",
]  # re-exported for the tests


def stack_env(ports: list[int], log_dir: Path, **extra: str) -> dict[str, str]:
    """STACK_* variables for a launcher on the given seven ports (six services, then Redis)."""
    names = ["ASYNC_MODEL_A", "ASYNC_SCORING", "ASYNC_MODEL_B", "SYNC_MODEL_A", "SYNC_SCORING", "SYNC_MODEL_B", "REDIS"]
    env = {f"STACK_{name}_PORT": str(port) for name, port in zip(names, ports, strict=True)}
    return env | {"STACK_LOG_DIR": str(log_dir)} | extra


def settings_from_env(env: dict[str, str]) -> StackSettings:
    """The StackSettings a launcher started with ``env`` uses."""
    return StackSettings(**{k.removeprefix("STACK_").lower(): v for k, v in env.items() if k.startswith("STACK_")})


@dataclass
class Launcher:
    """``python -m stack.up`` (what ``make up`` runs) as a subprocess."""

    popen: subprocess.Popen
    output: Path
    settings: StackSettings

    @classmethod
    def start(cls, env: dict[str, str], output: Path, timeout_s: float = 120) -> Launcher:
        """Start the launcher and wait until it reports every service healthy."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "SERVER_", "SCORING_", "MODEL_"))}
        clean.pop("REDIS_URL", None)
        with output.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "stack.up"],
                cwd=ROOT,
                env=clean | env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        launcher = cls(popen, output, settings_from_env(env))
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
        found, todo = [], [self.popen.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    continue
                found += children
                todo += children
        return found

    def interrupt(self, timeout_s: float = 40) -> int:
        """Ctrl-C, and its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts connections there."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
