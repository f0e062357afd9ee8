"""A stack wired for fault injection (tests, soak): its own Redis, model_b behind a ``FaultProxy``, access logs on.

The project's supervisor runs the real processes, with the registry's commands and environments and a few
overrides: scoring calls model_b through the proxy, serves with one worker of ``SCORING_MAX_IN_FLIGHT`` requests (so
that overload is easy to reach), and every service logs each request. ``url`` is the scoring service's own (the
faults test its behaviour); with ``edge=True`` its edge runs in front of it too, at ``edge_url``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

import redis
import requests

from fault_injection.proxy import FaultProxy
from reference.api import HEALTH_PATH, predict_path
from reference.settings import ServiceSettings
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import children, socket_count
from system_launcher.registry import service, service_env, service_named, settings_of, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Process, Supervisor
from system_launcher.topology import Stack

SCORING_MAX_IN_FLIGHT = 16
RESTART_TIMEOUT_S = 30.0


class FaultStack:
    """One stack (Redis, model_a, model_b behind a proxy, scoring, and its edge if asked) run by the supervisor."""

    def __init__(self, stack: Stack, base: Path, edge: bool = False) -> None:
        """``base``: where logs, Redis' files and the edge's configuration go."""
        *ports, proxy_port = free_ports(PORTS_PER_STACK + 1)
        self.stack = stack
        # No job workers: the faults are the predict path's.
        self.settings = StackSettings(**one_stack_ports(stack, ports), edge=edge, log_dir=base / "log",
                                      run_dir=base / "run", redis_dir=base / "redis", job_workers=0)  # fmt: skip
        self.model_a, self.model_b = service(stack, "model_a"), service(stack, "model_b")
        self.scoring = service(stack, "scoring")
        self.proxy = FaultProxy(upstream=("127.0.0.1", self.settings.port(stack, "model_b")), port=proxy_port)
        urls = [self.model_a.predict_url(self.settings), f"http://127.0.0.1:{proxy_port}{predict_path(stack)}"]
        logged = {"ACCESS_LOG": "true"}
        scoring = logged | {"SCORING_MODEL_URLS": json.dumps(urls), "SERVER_WORKERS": "1",
                            "SERVER_MAX_IN_FLIGHT": str(SCORING_MAX_IN_FLIGHT)}  # fmt: skip
        overrides = {self.scoring.name: scoring, self.model_a.name: logged, self.model_b.name: logged}
        self.supervisor = Supervisor(self.settings, stack_services(stack), overrides=overrides)

    def __enter__(self) -> FaultStack:
        self.proxy.start()
        try:
            self.supervisor.start(say=lambda _: None)
        except BaseException:
            self.proxy.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.supervisor.stop()
        finally:
            self.proxy.close()
        if left := self.supervisor.leftovers():
            raise RuntimeError(f"left behind: {left}")

    @property
    def url(self) -> str:
        """The scoring service's own predict URL (its edge bypassed)."""
        return self.scoring.direct_url(self.settings, predict_path(self.stack))

    @property
    def edge_url(self) -> str:
        """The predict URL through the edge, as users reach it (``edge=True`` only)."""
        if not self.settings.edge:
            raise RuntimeError("this stack runs without its edge")
        return self.scoring.predict_url(self.settings)

    def scoring_url(self, path: str) -> str:
        """A path on the scoring service's own server."""
        return self.scoring.direct_url(self.settings, path)

    def scoring_settings(self) -> ServiceSettings:
        """The server settings the scoring service runs with (its grace period, its limits)."""
        return settings_of(ServiceSettings, self.environment(self.scoring.name))

    def environment(self, name: str) -> dict[str, str]:
        """The environment the service ``name`` starts with: the registry's, and this stack's overrides."""
        return service_env(service_named(name), self.settings) | dict(self.supervisor.overrides.get(name, {}))

    def log(self, name: str) -> Path:
        """The log of a process (``async-scoring``, ``redis``...)."""
        return self.settings.log_dir / f"{name}.log"

    def process(self, name: str) -> Process:
        """The running process (a process group's leader) of a service, or ``redis``."""
        return self.supervisor.process(name)

    def redis(self) -> redis.Redis:
        """A client of this stack's Redis (the caller closes it)."""
        return redis.Redis.from_url(self.settings.effective_redis_url(), socket_timeout=2,
                                    password=self.settings.redis_password_value())  # fmt: skip

    def signal_service(self, name: str, sig: int) -> None:
        """Send ``sig`` to every process of a service (its master and workers)."""
        os.killpg(self.process(name).popen.pid, sig)

    def restart(self, name: str) -> None:
        """Start a service again, once what is left of it is killed, and wait until it answers its liveness probe."""
        self._kill(name)
        self.supervisor.start_service(service_named(name))
        health = service_named(name).direct_url(self.settings, HEALTH_PATH)
        wait_until(lambda: requests.get(health, timeout=0.5).status_code == 200, RESTART_TIMEOUT_S,
                   (requests.RequestException,))  # fmt: skip

    def restart_redis(self) -> None:
        """Start Redis again (it reloads its append-only file), once it has stopped, and seed it."""
        self._kill("redis")
        self.supervisor.start_redis()
        self.supervisor.seed()

    def _kill(self, name: str) -> None:
        """Kill what is left of a process's group and wait until it is gone, so that nothing holds its port."""
        process = self.process(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=RESTART_TIMEOUT_S)
        self.supervisor.reap(process)

    def scoring_sockets(self) -> int:
        """Open sockets of the scoring workers (children of its gunicorn master)."""
        master = self.process(self.scoring.name).popen.pid
        return sum(socket_count(pid) for pid in children(master))
