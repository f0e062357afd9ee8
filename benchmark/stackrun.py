"""Start one stack (Redis, seeding, its three services) on free ports, with extra environment, and stop it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmark.cpu import group_cpu_s
from common.routes import Stack
from faults.harness import free_ports
from stack.services import SERVICES, Service, service
from stack.settings import StackSettings
from stack.supervisor import Supervisor

ROLES = ("model_a", "scoring", "model_b")


@contextlib.contextmanager
def patched_environ(extra: dict[str, str]) -> Iterator[None]:
    """Set variables for the duration of the block (the Supervisor passes os.environ to every service)."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class RunningStack:
    """One started stack: where to reach it and how much CPU its processes used."""

    stack: Stack
    settings: StackSettings
    supervisor: Supervisor

    def url(self, role: str = "scoring") -> str:
        """Base URL of one of its services."""
        return service(self.stack, role).url(self.settings)

    def predict_url(self, role: str = "scoring") -> str:
        """Predict URL of one of its services."""
        return service(self.stack, role).predict_url(self.settings)

    def cpu_s(self) -> float:
        """CPU seconds used so far by Redis and the three services (all their workers)."""
        return group_cpu_s({p.popen.pid for p in self.supervisor.processes})


@contextlib.contextmanager
def running_stack(stack: Stack, env: dict[str, str] | None = None, log_dir: Path = Path("var/log/bench"),
                  say=print) -> Iterator[RunningStack]:  # fmt: skip
    """Run only ``stack`` (so the other never competes for the cores) with ``env`` applied to its services."""
    env = dict(env or {})
    described = _describe(env)
    ports = dict(zip([f"{stack}_{role}_port" for role in ROLES] + ["redis_port"], free_ports(4), strict=True))
    services: list[Service] = [s for s in SERVICES if s.stack == stack]
    with patched_environ(env):
        # Built inside, so that it reads the variant's STACK_SYNC_WORKER_CLASS, and its SERVER_WORKERS /
        # SERVER_THREADS also set the model services' counts.
        settings = StackSettings(**ports, redis_url=None, log_dir=log_dir)
        supervisor = Supervisor(settings, services=services)
        supervisor.start(say=lambda line: None)
    say(f"  {stack} stack up at {service(stack, 'scoring').url(settings)} {described}")
    try:
        yield RunningStack(stack, settings, supervisor)
    finally:
        supervisor.stop()


def _describe(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(env.items())) if env else "(defaults)"
