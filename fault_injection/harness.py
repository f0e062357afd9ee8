"""A stack wired for fault injection (tests, soak): its own Redis, model_b behind a ``FaultProxy``, access logs on.

The scoring service is reached directly by default (the faults test the service's own behaviour); with
``edge=True`` it runs behind its edge, as ``make up`` runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import redis
import requests

from fault_injection.proxy import FaultProxy
from service_runtime.core.topology import Stack, predict_path
from system_launcher.net import free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import children, pid_alive, socket_count
from system_launcher.registry import service, service_named, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Supervisor

# The scoring service runs one worker with this limit, so that overload is easy to reach.
SCORING_MAX_IN_FLIGHT = 16


class FaultStack:
    """One stack (Redis, model_a, model_b behind a proxy, scoring) started by the project's supervisor."""

    def __init__(self, stack: Stack, base: Path, edge: bool = False, protocol: str = "rest") -> None:
        """``protocol``: how scoring calls the models (``SCORING_MODEL_PROTOCOL``); model_b's proxy sits in
        front of its HTTP port, or of its gRPC port for ``grpc``."""
        ports = free_ports(PORTS_PER_STACK + 1)
        self.stack = stack
        # No job workers: the faults are the predict path's.
        self.settings = StackSettings(**one_stack_ports(stack, ports[:-1]), edge=edge, log_dir=base / "log",
                                      run_dir=base / "run", redis_dir=base / "redis", job_workers=0)  # fmt: skip
        self.model_b = service(stack, "model_b")
        self.scoring = service(stack, "scoring")
        grpc = protocol == "grpc"
        upstream = self.settings.grpc_port(stack, "model_b") if grpc else self.settings.port(stack, "model_b")
        self.proxy = FaultProxy(upstream=("127.0.0.1", upstream), port=ports[-1])
        proxied = (
            {"SCORING_MODEL_B_GRPC_TARGET": f"127.0.0.1:{ports[-1]}"}
            if grpc
            else {"SCORING_MODEL_B_URL": f"http://127.0.0.1:{ports[-1]}{predict_path(stack)}"}
        )
        everyone = {"SERVER_ACCESS_LOG": "true"}
        self.supervisor = Supervisor(
            self.settings,
            stack_services(stack),
            overrides={
                self.scoring.name: everyone
                | proxied
                | {
                    "SCORING_MODEL_PROTOCOL": protocol,
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
        return redis.Redis.from_url(
            self.settings.effective_redis_url(), socket_timeout=2, password=self.settings.redis_password_value()
        )

    def signal_service(self, name: str, sig: int) -> None:
        os.killpg(self.supervisor.process(name).popen.pid, sig)

    def restart(self, name: str) -> None:
        svc = service_named(name)
        self.supervisor.start_service(svc)
        wait_until(lambda: requests.get(svc.health_url(self.settings), timeout=0.5).status_code == 200, 30)

    def scoring_sockets(self) -> int:
        """Open sockets of the scoring workers (children of its gunicorn master)."""
        master = self.supervisor.process(self.scoring.name).popen.pid
        return sum(socket_count(pid) for pid in children(master))
