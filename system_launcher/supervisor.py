"""Starting, watching and stopping the system's processes, each in its own process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from reference.api import HEALTH_PATH
from system_launcher.edge import EdgeSettings, edge_argv, edge_config, find_envoy
from system_launcher.logs import BoundedLog
from system_launcher.net import port_open
from system_launcher.parent_death import die_with_parent
from system_launcher.procfs import in_groups
from system_launcher.redis_server import find_redis_server
from system_launcher.registry import (
    EDGES,
    SERVICES,
    Edge,
    JobWorker,
    Service,
    edge_plan,
    job_worker_argv,
    job_worker_env,
    job_workers,
    redis_argv,
    seed_argv,
    seed_env,
    seed_watch_argv,
    service,
    service_argv,
    service_env,
)
from system_launcher.settings import StackSettings

STOP_GRACE_S = 15.0
# A process that exits this many times in a row before it ever answered its health check cannot start: make up stops,
# naming it. One that dies fewer times while the system starts (killed, say) is restarted, as it would be later on.
START_ATTEMPTS = 3
# An edge whose listener refuses connections this many checks in a row (about a second apart) is restarted, even
# while its process lives: a drained Envoy keeps running with no listener.
EDGE_MISSES = 3
SEED_KEEPER = "seed-keeper"  # `feature_store.seed --watch`: seeds again whenever the store lost its data
# Every process runs from the repository root: the project is run from its checkout, not installed.
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class StartError(RuntimeError):
    """A process of the system did not start or did not become healthy."""


class Interrupted(Exception):
    """``interrupt()`` was called (a signal) while the system was starting."""


@dataclass
class Process:
    """A started process (the leader of its own process group) and where its output goes."""

    name: str
    popen: subprocess.Popen
    log: Path
    writer: BoundedLog | None = None
    started: float = field(default_factory=time.monotonic)
    healthy: bool = False  # answered its health check since it started
    misses: int = 0  # health checks failed in a row while it runs

    def tail(self, lines: int = 20) -> str:
        """The end of its log, to explain a failure."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Supervisor:
    """Runs Redis (unless REDIS_URL is given), seeds it, and runs the services, in front of scoring the edges, and
    each stack's job workers (``STACK_JOB_WORKERS`` per stack whose scoring service it runs)."""

    def __init__(
        self,
        settings: StackSettings,
        services: Iterable[Service] = SERVICES,
        python: str = sys.executable,
        overrides: Mapping[str, Mapping[str, str]] | None = None,
        keep_seeded: bool = False,
    ):
        self.settings = settings
        self.services = tuple(services)
        self.python = python
        # Extra environment per service name, applied last (experiments, fault injection).
        self.overrides = overrides or {}
        self.edge_settings = EdgeSettings()
        self.processes: list[Process] = []
        # make up also runs the seed keeper; experiments and tests that empty Redis on purpose do not.
        self.keep_seeded = keep_seeded
        self._interrupted = False
        self._start_deaths: dict[str, int] = {}  # exits before ever being healthy, per process name
        self._groups: set[int] = set()  # every process group started, to check that none is left at the end

    def interrupt(self) -> None:
        """Make ``start()`` give up at its next check (safe from a signal handler: it only sets a flag)."""
        self._interrupted = True

    # -- starting ----------------------------------------------------------------------------------
    def start(self, say=print) -> None:
        """Start everything and wait until every service is healthy; on failure, stop what started."""
        try:
            self._check_ports_free()
            if self.settings.starts_redis():
                say(f"starting redis on {self.settings.host}:{self.settings.redis_port}")
                self.start_redis()
            say(f"seeding the feature store at {self.settings.effective_redis_url()}")
            self.seed()
            if self.keep_seeded:
                say(f"starting {SEED_KEEPER} (seeds again whenever the store is found unseeded)")
                self.start_seed_keeper()
            for svc in self.services:
                say(f"starting {svc.name} on {svc.direct_url(self.settings)}")
                self.start_service(svc)
            for edge in self.edges():
                say(f"starting {edge.name} on {service(edge.stack, 'scoring').url(self.settings)}")
                self.start_edge(edge)
            for worker in self.job_workers():
                say(f"starting {worker.name} (probes and metrics on {worker.url(self.settings)})")
                self.start_job_worker(worker)
            self._wait_healthy(say)
        except BaseException:
            self.stop()
            raise

    def start_service(self, svc: Service) -> Process:
        """Start (or restart) one service with its registry command and environment."""
        env = service_env(svc, self.settings) | dict(self.overrides.get(svc.name, {}))
        return self._spawn(svc.name, service_argv(svc, self.settings, self.python), env)

    def start_seed_keeper(self) -> Process:
        """Start (or restart) ``feature_store.seed --watch`` on this system's Redis."""
        return self._spawn(SEED_KEEPER, seed_watch_argv(self.python), seed_env(self.settings))

    def restart(self, name: str) -> Process:
        """Start again the process called ``name`` with its registry command and environment, without waiting for
        it to become healthy (so the caller stays responsive)."""
        if name == "redis":
            return self._spawn("redis", redis_argv(find_redis_server(), self.settings), {})
        if name == SEED_KEEPER:
            return self.start_seed_keeper()
        starters = {svc.name: (self.start_service, svc) for svc in self.services}
        starters |= {edge.name: (self.start_edge, edge) for edge in self.edges()}
        starters |= {worker.name: (self.start_job_worker, worker) for worker in self.job_workers()}
        start, what = starters[name]
        return start(what)

    def edges(self) -> list[Edge]:
        """The edges to run: one per stack whose scoring service this supervisor runs, when the edge is on."""
        if not self.settings.edge:
            return []
        return [e for e in EDGES if any(s.stack == e.stack and s.behind_edge for s in self.services)]

    def start_edge(self, edge: Edge) -> Process:
        """Write the edge's configuration (from its scoring service's settings) and start Envoy on it."""
        scoring = service(edge.stack, "scoring")
        scoring_env = service_env(scoring, self.settings) | dict(self.overrides.get(scoring.name, {}))
        config = edge_config(edge_plan(edge.stack, self.settings, scoring_env), self.edge_settings)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        path = (self.settings.run_dir / f"{edge.name}.json").resolve()
        path.write_text(json.dumps(config, indent=1))
        return self._spawn(edge.name, edge_argv(str(path), self.edge_settings, find_envoy()), {})

    def job_workers(self) -> list[JobWorker]:
        """The job workers to run: those of each stack whose scoring service this supervisor runs."""
        stacks = [s.stack for s in self.services if s.role == "scoring"]
        return job_workers(self.settings, stacks)

    def start_job_worker(self, worker: JobWorker) -> Process:
        """Start (or restart) one job worker with its registry command and environment."""
        env = job_worker_env(worker, self.settings) | dict(self.overrides.get(worker.name, {}))
        return self._spawn(worker.name, job_worker_argv(self.python), env)

    def process(self, name: str) -> Process:
        """The running process of a service (or ``redis``) by name."""
        return next(p for p in reversed(self.processes) if p.name == name)

    def _check_ports_free(self) -> None:
        for name, port in self._ports().items():
            if port_open(port, self.settings.host):
                raise StartError(
                    f"port {port} ({name}) is already in use on {self.settings.host}: "
                    "stop what listens there or set STACK_*_PORT"
                )
        for edge in self.edges():
            self.settings.edge_admin_socket(edge.stack).unlink(missing_ok=True)  # a socket left by a killed edge

    def _ports(self) -> dict[str, int]:
        """Every port the system's processes listen on, by what listens."""
        ports = {svc.name: svc.listen_port(self.settings) for svc in self.services}
        ports |= {f"{svc.name}: grpc": self.settings.grpc_port(svc.stack, svc.role)
                  for svc in self.services if svc.role != "scoring"}  # fmt: skip
        for edge in self.edges():
            ports |= {f"{edge.name}: {kind}": port for kind, port in self.settings.edge_ports(edge.stack).items()}
        for worker in self.job_workers():
            ports[worker.name] = self.settings.jobs_worker_port(worker.stack, worker.index)
        if self.settings.starts_redis():
            ports["redis"] = self.settings.redis_port
        return ports

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        # A restart replaces the dead process of that name.
        self.processes = [p for p in self.processes if p.name != name or p.popen.poll() is None]
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.settings.log_dir / f"{name}.log"
        read_end, write_end = os.pipe()
        try:
            popen = subprocess.Popen(
                argv,
                env=os.environ | env,
                stdout=write_end,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
                start_new_session=True,  # its own process group: stopped as a whole, deaf to our Ctrl-C
                preexec_fn=die_with_parent(),  # and SIGTERMed by the kernel if the launcher dies, even by SIGKILL
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        process = Process(name, popen, log, BoundedLog(read_end, log))
        self.processes.append(process)
        self._groups.add(popen.pid)
        return process

    def start_redis(self) -> Process:
        """Start (or restart) Redis on its append-only file and wait until it answers."""
        (PROJECT_ROOT / self.settings.redis_dir).mkdir(parents=True, exist_ok=True)  # Redis runs from the root
        process = self._spawn("redis", redis_argv(find_redis_server(), self.settings), {})
        self._wait_for_redis()
        process.healthy = True
        return process

    def _wait_for_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.settings.effective_redis_url(), socket_timeout=0.5,
                                      password=self.settings.redis_password_value())  # fmt: skip
        try:
            self._poll("redis", lambda: client.ping(), (redis.RedisError,))
        finally:
            client.close()

    def seed(self, timeout_s: float = 300.0) -> None:
        """Run the seeding job to completion (its output on ours)."""
        popen = subprocess.Popen(seed_argv(self.python), env=os.environ | seed_env(self.settings), cwd=PROJECT_ROOT,
                                 stdin=subprocess.DEVNULL, start_new_session=True,
                                 preexec_fn=die_with_parent())  # fmt: skip
        deadline = time.monotonic() + timeout_s
        try:
            while popen.poll() is None:
                if self._interrupted:
                    raise Interrupted("interrupted while seeding")
                if time.monotonic() > deadline:
                    raise StartError(f"seeding took more than {timeout_s:.0f}s")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=0.1)
        finally:
            if popen.poll() is None:
                _signal_group(popen, signal.SIGKILL)
                popen.wait()
        if popen.returncode != 0:
            raise StartError("seeding the feature store failed (see above)")

    def _wait_healthy(self, say) -> None:
        # Each service on its own server, then each edge forwarding to its scoring service.
        checks = [(svc.name, svc.direct_url(self.settings, HEALTH_PATH)) for svc in self.services]
        checks += [(e.name, service(e.stack, "scoring").health_url(self.settings)) for e in self.edges()]
        checks += [(w.name, w.url(self.settings, HEALTH_PATH)) for w in self.job_workers()]
        for process in self.processes:
            if process.name == SEED_KEEPER:
                process.healthy = True  # it has no port: it is up once it runs
        with requests.Session() as session:
            for name, url in checks:
                self._poll(name, lambda url=url: session.get(url, timeout=0.5).status_code == 200,
                           (requests.RequestException,))  # fmt: skip
                self.process(name).healthy = True
                say(f"  {name} healthy: {url}")

    def _poll(self, name: str, check, errors: tuple[type[BaseException], ...]) -> None:
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while time.monotonic() < deadline:
            if self._interrupted:
                raise Interrupted(f"interrupted while waiting for {name}")
            self._restart_exited_while_starting()
            try:
                if check():
                    return
            except errors:
                pass
            time.sleep(0.1)
        raise StartError(f"{name} was not ready after {self.settings.ready_timeout_s:.0f}s")

    def _restart_exited_while_starting(self) -> None:
        """Restart what exited while the system starts; fail, naming it, what never started ``START_ATTEMPTS`` times."""
        for process in self.exited():
            code = process.popen.poll()
            self.reap(process)
            deaths = self._start_deaths.get(process.name, 0) + (0 if process.healthy else 1)
            self._start_deaths[process.name] = deaths
            if deaths >= START_ATTEMPTS:
                raise StartError(f"{process.name} could not start: it exited with code {code}, {deaths} times in a "
                                 f"row; end of {process.log}:\n{process.tail()}")  # fmt: skip
            print(f"{process.name} exited with code {code} while the system started; restarting it",
                  file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(min(2.0, 0.5 * 2**deaths))
            if process.name == "redis":
                self.start_redis()
            else:
                self.restart(process.name)

    # -- running -----------------------------------------------------------------------------------
    def exited(self) -> list[Process]:
        """Processes that have stopped on their own."""
        return [p for p in self.processes if p.popen.poll() is not None]

    def reap(self, process: Process) -> None:
        """After a process died: kill what is left of its group (workers of a SIGKILLed master), so that nothing
        holds its ports when it starts again."""
        _signal_group(process.popen, signal.SIGKILL)
        _wait_group_gone(process.popen.pid, timeout_s=5.0)

    def check_edges(self) -> None:
        """Kill an edge whose listener has refused connections ``EDGE_MISSES`` checks in a row: it is restarted as a
        dead process is (liveness is its listener answering, not its process existing)."""
        for edge in self.edges():
            process = next((p for p in reversed(self.processes) if p.name == edge.name), None)
            if process is None or process.popen.poll() is not None:
                continue
            listening = port_open(self.settings.port(edge.stack, "scoring"), self.settings.host)
            process.misses = 0 if listening else process.misses + 1
            if process.misses >= EDGE_MISSES:
                print(f"{edge.name} no longer listens on {self.settings.port(edge.stack, 'scoring')}: restarting it",
                      file=sys.stderr, flush=True)  # fmt: skip
                _signal_group(process.popen, signal.SIGKILL)
                process.popen.wait()

    def leftovers(self) -> list[str]:
        """What is still running or listening of what this supervisor started (empty once everything stopped)."""
        left = [f"pid {pid} ({_cmdline(pid)}) of process group {pgid}" for pgid in sorted(self._groups)
                for pid in in_groups({pgid})]  # fmt: skip
        ports = self._ports()
        left += [f"port {port} ({name}) still listening" for name, port in ports.items()
                 if port_open(port, self.settings.host)]  # fmt: skip
        return left

    # -- stopping ----------------------------------------------------------------------------------
    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the job workers, so that they finish their jobs while Redis and the models still answer; then
        every other process group (services first, Redis last); SIGKILL what is left after ``grace_s``."""
        deadline = time.monotonic() + grace_s
        workers = {w.name for w in self.job_workers()}
        _terminate([p for p in self.processes if p.name in workers], deadline)
        _terminate([p for p in self.processes if p.name not in workers], deadline)
        for process in self.processes:
            if process.writer is not None:
                process.writer.join()
        self.processes.clear()

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _terminate(processes: list[Process], deadline: float) -> None:
    """SIGTERM every process group (the last started first), wait until ``deadline``, SIGKILL what is left."""
    for process in reversed(processes):
        _signal_group(process.popen, signal.SIGTERM)
    for process in reversed(processes):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Also kill workers that may outlive their master, and wait until they are gone:
        # SIGKILL is delivered asynchronously, and a dying worker still holds the listening socket.
        _signal_group(process.popen, signal.SIGKILL)
        process.popen.wait()
        _wait_group_gone(process.popen.pid, timeout_s=5.0)


def _wait_group_gone(pgid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)  # signal 0: only asks whether any process of the group is left
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "gone"


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)
