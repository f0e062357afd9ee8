"""A stack wired for fault injection (tests, soak): its own Redis, model_b behind a ``FaultProxy``, access logs on."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import redis
import requests

from common.routes import predict_path
from faults.proxy import FaultProxy
from stack.services import SERVICES, service
from stack.settings import StackSettings
from stack.supervisor import Supervisor

# The scoring service runs one worker with this limit, so that overload is easy to reach.
SCORING_MAX_IN_FLIGHT = 16


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together, so they are distinct)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def pid_alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


class FaultStack:
    """One stack (Redis, model_a, model_b behind a proxy, scoring) started by the project's supervisor."""

    def __init__(self, stack: str, base: Path) -> None:
        ports = free_ports(5)
        self.stack = stack
        self.settings = StackSettings(
            **{
                f"{stack}_{role}_port": port
                for role, port in zip(("model_a", "scoring", "model_b"), ports, strict=False)
            },
            redis_port=ports[3],
            log_dir=base / "log",
        )
        self.model_b = service(stack, "model_b")
        self.scoring = service(stack, "scoring")
        self.proxy = FaultProxy(upstream=("127.0.0.1", self.settings.port(stack, "model_b")), port=ports[4])
        proxied = f"http://127.0.0.1:{ports[4]}{predict_path(stack)}"
        everyone = {"SERVER_ACCESS_LOG": "true"}
        self.supervisor = Supervisor(
            self.settings,
            [s for s in SERVICES if s.stack == stack],
            overrides={
                self.scoring.name: everyone
                | {
                    "SCORING_MODEL_B_URL": proxied,
                    "SERVER_WORKERS": "1",
                    "SERVER_MAX_IN_FLIGHT": str(SCORING_MAX_IN_FLIGHT),
                },
                service(stack, "model_a").name: everyone,
                self.model_b.name: everyone,
            },
        )

    def __enter__(self) -> FaultStack:
        self.proxy.__enter__()
        self.supervisor.start(say=lambda _: None)
        return self

    def __exit__(self, *exc) -> None:
        pids = [p.popen.pid for p in self.supervisor.processes]
        self.supervisor.stop()
        self.proxy.__exit__(*exc)
        assert [p for p in pids if pid_alive(p)] == [], "processes left behind"

    @property
    def url(self) -> str:
        return self.scoring.predict_url(self.settings)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.effective_redis_url(), socket_timeout=2)

    def signal_service(self, name: str, sig: int) -> None:
        os.killpg(self.supervisor.process(name).popen.pid, sig)

    def restart(self, name: str) -> None:
        svc = next(s for s in SERVICES if s.name == name)
        self.supervisor.start_service(svc)
        wait_until(lambda: requests.get(svc.health_url(self.settings), timeout=0.5).status_code == 200, 30)

    def scoring_sockets(self) -> int:
        """Open sockets of the scoring workers (children of its gunicorn master)."""
        master = self.supervisor.process(self.scoring.name).popen.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return sum(1 for pid in children for fd in Path(f"/proc/{pid}/fd").iterdir() if _is_socket(fd))


def wait_until(check, timeout_s: float) -> None:
    """Poll ``check`` until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s}s")


def _is_socket(fd: Path) -> bool:
    try:
        return os.readlink(fd).startswith("socket:")
    except OSError:  # closed between listing the directory and reading the link
        return False
