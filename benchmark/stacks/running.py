"""Start one stack (Redis, seeding, its three services) on free ports, with extra environment, and stop it.

The same for the benchmark's other builds (``build="people"``, ``"bare"``: benchmark/ladder; ``"minimal"``:
benchmark/minimal): its own Redis seeded alike, its three services, no edge; experiments treat every build alike.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from system_launcher.net import free_port_block, free_ports
from system_launcher.polling import wait_until
from system_launcher.procfs import cpu_s_by_group, group_cpu_s, group_rss_kib
from system_launcher.registry import Build, JobWorker, service, stack_services
from system_launcher.settings import PORTS_PER_STACK, StackSettings, one_stack_ports
from system_launcher.supervisor import Supervisor
from system_launcher.topology import Role, Stack

JSON = {"Content-Type": "application/json"}


@contextlib.contextmanager
def patched_environ(extra: dict[str, str | None]) -> Iterator[None]:
    """Set variables (None: unset them) for the duration of the block (the Supervisor passes os.environ to every
    service)."""
    saved = {name: os.environ.get(name) for name in extra}
    for name, value in extra.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
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
    """One started stack: where to reach it and how much CPU and memory its processes use."""

    stack: Stack
    settings: StackSettings
    supervisor: Supervisor
    build: Build = "full"

    def url(self, role: Role = "scoring") -> str:
        """Base URL of one of its services."""
        return service(self.stack, role, self.build).url(self.settings)

    def predict_url(self, role: Role = "scoring") -> str:
        """Predict URL of one of its services."""
        return service(self.stack, role, self.build).predict_url(self.settings)

    def direct_url(self, role: Role = "scoring") -> str:
        """Base URL of one of its services' own server, the edge bypassed."""
        return service(self.stack, role, self.build).direct_url(self.settings)

    def base_url(self, path: str) -> str:
        """The scoring service's base URL as reached by ``path``: ``edge`` (as users do) or ``direct``.

        Only the full build has an edge: for the others, both are its scoring server.
        """
        return self.url() if path == "edge" else self.direct_url()

    def job_workers(self) -> list[JobWorker]:
        """The job workers it runs (``job_workers``); ``worker.url(settings, "/metrics")`` is each one's metrics."""
        return self.supervisor.job_workers()

    def process_groups(self) -> set[int]:
        """The process group of Redis and of each service (master and workers)."""
        return {p.popen.pid for p in self.supervisor.processes}

    def cpu_s(self) -> float:
        """CPU seconds used so far by Redis, the three services (all their workers) and the job workers."""
        return group_cpu_s(self.process_groups())

    def cpu_s_by_part(self) -> dict[str, float]:
        """CPU seconds used so far by each process it started (a service counts all its workers), by part:
        ``redis``, ``scoring``, ``model_a``, ``model_b``, ``edge``, ``jobs_worker_0``..."""
        prefix = f"{self.stack}-" if self.build == "full" else f"{self.build}-{self.stack}-"
        by_group = cpu_s_by_group(self.process_groups())
        return {p.name.removeprefix(prefix).replace("-", "_"): by_group[p.popen.pid]
                for p in self.supervisor.processes}  # fmt: skip

    def rss_kib(self) -> int:
        """Resident memory of Redis, the three services and the job workers, in KiB."""
        return group_rss_kib(self.process_groups())


def warm_up(predict_url: str, timeout_s: float, connections: int = 16) -> None:
    """Score one entity until the stack answers it, then once more on each of ``connections`` new connections (they
    spread over the workers): a fresh worker's first calls (connections, the first requests of its models) may
    outlast a model call's timeout on a busy machine, and no experiment measures them."""

    def answered() -> bool:
        return requests.post(predict_url, data=b'{"entity_id": "0"}', headers=JSON, timeout=5).status_code == 200

    wait_until(answered, timeout_s, errors=(requests.RequestException,))
    for _ in range(connections):
        with contextlib.suppress(requests.RequestException):
            answered()


@contextlib.contextmanager
def running_stack(stack: Stack, env: dict[str, str] | None = None, log_dir: Path = Path("var/log/bench"),
                  say=print, build: Build = "full", job_workers: int = 0,
                  overrides: Callable[[StackSettings], Mapping[str, Mapping[str, str]]] | None = None,
                  ) -> Iterator[RunningStack]:  # fmt: skip
    """Run only ``stack`` (so the other never competes for the cores) with ``env`` applied to its services.

    ``build``: another build of it instead (``people``, ``bare``, ``minimal``), always without an edge or job
    workers.
    ``job_workers``: job worker processes to run too (job mode; 0 for the experiments of the predict route, which
    measure the predict route alone). Redis starts empty, its files in a fresh directory.
    ``overrides``: extra environment per service name, from the stack's settings (its ports), applied last (the
    answer's fan-out widths name the model services' URLs).
    """
    if build != "full" and job_workers:
        raise ValueError(f"a {build} stack has no job mode")
    env = dict(env or {})
    described = " ".join(f"{k}={v}" for k, v in sorted(env.items())) or "(defaults)"
    singles = free_ports(PORTS_PER_STACK)
    ports = one_stack_ports(stack, singles, free_port_block(max(1, job_workers), avoid=singles))
    edge = {} if build == "full" else {"edge": False}
    redis_dir = Path(tempfile.mkdtemp(prefix=f"bench-redis-{stack}-"))
    try:
        # Built inside, so that it reads the variant's STACK_SYNC_WORKER_CLASS, and its SERVER_WORKERS /
        # SERVER_THREADS also set the model services' counts; without REDIS_URL, so that it starts its own Redis.
        with patched_environ({**env, "REDIS_URL": None}):
            settings = StackSettings(**ports, **edge, log_dir=log_dir, run_dir=log_dir / "run", redis_dir=redis_dir,
                                     job_workers=job_workers)  # fmt: skip
            supervisor = Supervisor(
                settings, services=stack_services(stack, build), overrides=overrides(settings) if overrides else None
            )
            supervisor.start(say=lambda line: None)
        label = stack if build == "full" else f"{build} {stack}"
        try:
            warm_up(service(stack, "scoring", build).predict_url(settings), settings.ready_timeout_s)
            say(f"  {label} stack up at {service(stack, 'scoring', build).url(settings)} {described}")
            yield RunningStack(stack, settings, supervisor, build)
        finally:
            supervisor.stop()
    finally:
        shutil.rmtree(redis_dir, ignore_errors=True)
