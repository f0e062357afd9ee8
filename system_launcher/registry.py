"""The one source of truth for how each process of the system starts: the six services, the two edges, the job
workers, Redis, seeding, Locust, and the benchmark's other builds of the six services (its ladder and minimal twins).

``make up``, the tests, the benchmark, ``docker-compose.yml`` (``deploygen/compose.py``) and the
Kubernetes overlays (``deploygen/k8s.py``) build their commands from these functions; only the settings differ: loopback
natively, one host name per process in containers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from reference import tracing
from reference.api import HEALTH_PATH, predict_path
from reference.settings import ScoringSettings, ServiceSettings
from server_variants import server_argv, server_env
from system_launcher.edge import EdgePlan
from system_launcher.settings import StackSettings
from system_launcher.topology import ROLES, STACKS, Role, Stack

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
# The benchmark suite's Locust experiments, run by the master and every worker of a distributed run.
LOCUSTFILE = "benchmark/load/locustfile.py"

# ``full``: the services as make up runs them (``apps``: the reference's, with job mode and the protocol).
# ``people`` and ``bare``: the ladder below them (benchmark/ladder). ``people``: what the frameworks' tutorials
# write, served as their docs deploy it (``uvicorn --workers``, gunicorn's defaults), untuned. ``bare``: the
# reference's routes, clients and error handlers on its own server, without its service middleware.
# ``minimal``: their twins in benchmark/minimal, the floor: raw ASGI or WSGI apps on Granian, the same contract and
# answers, nothing else. They start from the same settings and environment, only the command differs.
Build = Literal["full", "people", "bare", "minimal"]
BUILDS: tuple[Build, ...] = get_args(Build)
LADDER: tuple[Build, ...] = ("people", "bare")
# What serves the people build (``variant_of``): the servers as the frameworks' docs run them, N workers each.
PEOPLE_SERVERS: dict[Stack, str] = {"async": "uvicorn-workers", "sync": "gunicorn-defaults"}


@dataclass(frozen=True)
class Service:
    """One of the six services: a stack and a role (and, for the benchmark, another build than ``full``)."""

    stack: Stack
    role: Role
    build: Build = "full"

    @property
    def name(self) -> str:
        """``async-model-a``, ``sync-scoring``... (``minimal-async-scoring``, ``people-sync-model-a``... for the
        other builds)."""
        name = f"{self.stack}-{self.role.replace('_', '-')}"
        return name if self.build == "full" else f"{self.build}-{name}"

    @property
    def kind(self) -> str:
        """``scoring`` or ``model``."""
        return "scoring" if self.role == "scoring" else "model"

    @property
    def factory(self) -> str:
        """Its app factory, ``module:function``."""
        if self.build in LADDER:
            return f"benchmark.ladder.{self.kind}_{self.build}_{self.stack}:create_app"
        package = "benchmark.minimal" if self.build == "minimal" else "apps"
        return f"{package}.{self.kind}_{self.stack}:create_app"

    @property
    def behind_edge(self) -> bool:
        """True for a scoring service of this project, which the edge fronts when it is on; other builds have none."""
        return self.role == "scoring" and self.build == "full"

    def url(self, settings: StackSettings, path: str = "") -> str:
        """The service's base URL as users reach it (scoring with the edge on: the edge's), plus ``path``."""
        host = f"{self.stack}-edge" if self.behind_edge and settings.edge else self.name
        return f"http://{settings.address_of(host)}:{settings.port(self.stack, self.role)}{path}"

    def health_url(self, settings: StackSettings) -> str:
        """Its liveness URL."""
        return self.url(settings, HEALTH_PATH)

    def predict_url(self, settings: StackSettings) -> str:
        """Its predict URL (for scoring with the edge on: through the edge)."""
        return self.url(settings, predict_path(self.stack))

    def listen_port(self, settings: StackSettings) -> int:
        """The port its own server listens on: behind the edge, scoring's backend port."""
        return settings.listen_port(self.stack, self.role) if self.behind_edge else settings.port(self.stack, self.role)

    def grpc_target(self, settings: StackSettings) -> str:
        """Where a model service serves the Open Inference Protocol over gRPC: ``host:port``."""
        return f"{settings.address_of(self.name)}:{settings.grpc_port(self.stack, self.role)}"

    def direct_url(self, settings: StackSettings, path: str = "") -> str:
        """The URL of its own server, the edge bypassed, plus ``path``."""
        return f"http://{settings.address_of(self.name)}:{self.listen_port(settings)}{path}"


SERVICES: tuple[Service, ...] = tuple(Service(stack, role) for stack in STACKS for role in ROLES)
# The benchmark's other builds; never part of the system that make up, compose or Kubernetes run.
LADDER_SERVICES: tuple[Service, ...] = tuple(Service(stack, role, build) for build in LADDER for stack in STACKS
                                             for role in ROLES)  # fmt: skip
MINIMAL_SERVICES: tuple[Service, ...] = tuple(Service(stack, role, "minimal") for stack in STACKS for role in ROLES)
EVERY_BUILD: tuple[Service, ...] = SERVICES + LADDER_SERVICES + MINIMAL_SERVICES


def service(stack: Stack, role: Role, build: Build = "full") -> Service:
    """Look a service up by stack and role (and build)."""
    return next(s for s in EVERY_BUILD if (s.stack, s.role, s.build) == (stack, role, build))


def stack_services(stack: Stack, build: Build = "full") -> list[Service]:
    """The three services of one stack (or of another build of it)."""
    return [s for s in EVERY_BUILD if s.stack == stack and s.build == build]


def service_named(name: str) -> Service:
    """Look a service up by its name (``async-model-b``)."""
    return next(s for s in SERVICES if s.name == name)


def variant_of(svc: Service, settings: StackSettings) -> str:
    """What serves a service: its stack's server (``STACK_*_SERVER``, ``STACK_SYNC_WORKER_CLASS``), for the full and
    bare builds; minimal twins always run on Granian, the people build on ``PEOPLE_SERVERS``."""
    if svc.build == "minimal":
        return "granian"
    return PEOPLE_SERVERS[svc.stack] if svc.build == "people" else settings.variant(svc.stack)


def service_argv(svc: Service, settings: StackSettings, python: str = "python") -> list[str]:
    """The command that starts a service: gunicorn with the reference's configuration calling the app factory in
    each worker (``reference.gunicorn_conf``), or Granian; for the people build, ``people_argv``."""
    if svc.build == "people":
        return people_argv(svc, settings, python)
    return server_argv(variant_of(svc, settings), svc.factory, python)


def people_argv(svc: Service, settings: StackSettings, python: str = "python") -> list[str]:
    """A people service served as its framework's docs deploy it, N workers (``SERVER_WORKERS``, or one per core)
    and nothing tuned: ``uvicorn --workers`` (uvicorn's own process manager), or gunicorn's default sync workers
    (one request at a time each) without its control socket, which every master of a user would share."""
    host, port = settings.bind_address(), str(svc.listen_port(settings))
    workers = str(settings_of(ServiceSettings, service_env(svc, settings)).worker_count())
    if svc.stack == "async":
        return [python, "-m", "uvicorn", "--factory", svc.factory, "--host", host, "--port", port, "--workers", workers]
    return [python, "-m", "gunicorn", "-w", workers, "--bind", f"{host}:{port}", "--no-control-socket",
            f"{svc.factory}()"]  # fmt: skip


def service_env(svc: Service, settings: StackSettings) -> dict[str, str]:
    """The environment that makes ``service_argv`` the given service."""
    variant = variant_of(svc, settings)
    env = {
        "SERVER_NAME": svc.name,
        "SERVER_HOST": settings.bind_address(),
        "SERVER_PORT": str(svc.listen_port(settings)),
    }
    if svc.role == "scoring":
        env |= scoring_env(svc.stack, settings, svc.build)
        if settings.edge and svc.behind_edge:  # the edge stamps each request's arrival: its deadline counts time there
            env["SERVER_TRUST_REQUEST_START"] = "true"
    else:
        env |= {"MODEL_NAME": svc.role, "MODEL_GRPC_PORT": str(settings.grpc_port(svc.stack, svc.role))}
        env |= model_server_env(variant, settings)
    return env | server_env(variant)


def scoring_env(stack: Stack, settings: StackSettings, build: Build = "full") -> dict[str, str]:
    """Where scoring code finds its feature store, its models and its job queue (the scoring service, the workers)."""
    models = [service(stack, m, build) for m in ("model_a", "model_b")]
    return {
        "SCORING_MODEL_URLS": json.dumps([m.predict_url(settings) for m in models]),
        "SCORING_MODEL_GRPC_TARGETS": json.dumps([m.grpc_target(settings) for m in models]),
    } | redis_env(settings)


def redis_env(settings: StackSettings) -> dict[str, str]:
    """``REDIS_URL``, and ``REDIS_PASSWORD`` when Redis has one: every process that reads Redis gets them.

    The password is what the platform resolves: the password natively, an interpolation in compose, a reference to
    the Secret in Kubernetes (deploygen)."""
    env = {"REDIS_URL": settings.effective_redis_url()}
    return env | ({"REDIS_PASSWORD": settings.redis_password_value()} if settings.redis_password else {})


def model_server_env(variant: str, settings: StackSettings) -> dict[str, str]:
    """Worker counts of a model service: one process is enough where a worker serves many requests at once.

    A model call costs a fifth of a scoring request's CPU, and every extra process on the same cores costs context
    switches and cold caches (doc/performance.md). An event loop (uvicorn, Granian's ASGI) or gevent's green threads
    serve many requests in one worker; gthread and Granian's WSGI worker do with ``model_threads`` threads. ``sync``
    and ``meinheld`` workers serve one request at a time, so they keep one worker per core.
    """
    if variant in ("uvicorn", "gevent", "gthread", "granian"):
        return {"SERVER_WORKERS": str(settings.model_workers), "SERVER_THREADS": str(settings.model_threads)}
    return {}


class InvalidSetting(ValueError):
    """A setting the launcher reads on a service's behalf is invalid: named by its variable, before anything uses
    it."""


def setting_errors(cls: type[BaseSettings], exc: ValidationError) -> str:
    """Pydantic's errors as the variables a user sets: ``SCORING_DEADLINE_S='-1': Input should be greater than 0``."""
    prefix = cls.model_config.get("env_prefix", "")
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = cls.model_fields.get(name)
        key = field.validation_alias if field and isinstance(field.validation_alias, str) else f"{prefix}{name.upper()}"
        lines.append(f"{key}={error.get('input')!r}: {error['msg']}")
    return "; ".join(lines)


def settings_of(cls: type[SettingsT], env: Mapping[str, str]) -> SettingsT:
    """The settings a process started with ``env`` (over this process's environment and ``.env``) reads; an invalid
    one raises ``InvalidSetting`` naming its variable."""
    prefix = cls.model_config.get("env_prefix", "")
    values = {}
    for name, field in cls.model_fields.items():
        key = field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name.upper()}"
        if key in env:
            values[name] = json.loads(env[key]) if env[key].startswith("[") else env[key]
    try:
        return cls(**values)
    except ValidationError as exc:
        raise InvalidSetting(setting_errors(cls, exc)) from None


@dataclass(frozen=True)
class Edge:
    """The edge of one stack: Envoy in front of its scoring service (``system_launcher.edge``)."""

    stack: Stack

    @property
    def name(self) -> str:
        """``async-edge``, ``sync-edge``."""
        return f"{self.stack}-edge"


EDGES: tuple[Edge, ...] = tuple(Edge(stack) for stack in STACKS)


def edge_plan(stack: Stack, settings: StackSettings, scoring_env: Mapping[str, str] | None = None) -> EdgePlan:
    """Where a stack's edge listens and forwards, and how many requests its scoring service takes at once.

    ``scoring_env``: the scoring service's environment when it is not ``service_env``'s (containers, overrides).
    """
    scoring = service(stack, "scoring")
    env = scoring_env or service_env(scoring, settings)
    server, own = settings_of(ServiceSettings, env), settings_of(ScoringSettings, env)
    ports, bind = settings.edge_ports(stack), settings.bind_address()
    return EdgePlan(
        stack=stack,
        listen=(bind, ports["listen"]),
        metrics=(bind, ports["metrics"]),
        admin_socket=str(settings.edge_admin_socket(stack)),
        upstream=(settings.address_of(scoring.name), settings.listen_port(stack, "scoring")),
        upstream_slots=server.worker_count() * server.in_flight_limit(stack),
        deadline_s=own.deadline_s,
        max_request_bytes=server.max_body_bytes,
        upstream_idle_s=server.client_keepalive_s(),
        resolve_by_dns=settings.per_service_hosts,
        traces_url=edge_traces_url(),
        traces_sampled_percent=edge_sampled_percent(),
    )


def edge_traces_url(environ: Mapping[str, str] | None = None) -> str | None:
    """Where an edge exports its spans: the OTLP endpoint, when ``OTEL_TRACES_EXPORTER`` names ``otlp`` and one is
    given (Envoy has no console exporter); else None, and the edge does not trace."""
    environ = os.environ if environ is None else environ
    return tracing.otlp_endpoint(environ) if "otlp" in tracing.exporters(environ) else None


def edge_sampled_percent(environ: Mapping[str, str] | None = None) -> float:
    """The share of requests an edge traces, from the sampler the services read (``OTEL_TRACES_SAMPLER`` and its
    argument): through the edge, its decision is the one the services follow (parent-based sampling)."""
    environ = os.environ if environ is None else environ
    sampler = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    if sampler in ("always_off", "parentbased_always_off"):
        return 0.0
    if sampler in ("traceidratio", "parentbased_traceidratio"):
        try:
            return min(max(float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1")), 0.0), 1.0) * 100
        except ValueError:
            return 100.0  # as the SDK does with an argument it cannot read
    return 100.0


@dataclass(frozen=True)
class JobWorker:
    """One job worker process of a stack (``job_worker``): natively each has an index and a port of its own; in
    containers they are replicas of one ``<stack>-jobs-worker``."""

    stack: Stack
    index: int = 0

    @property
    def kind(self) -> str:
        """``async-jobs-worker``: the name of the compose service and of the Kubernetes Deployment."""
        return f"{self.stack}-jobs-worker"

    @property
    def name(self) -> str:
        """``async-jobs-worker-0``: the process natively (its log file is named after it)."""
        return f"{self.kind}-{self.index}"

    def url(self, settings: StackSettings, path: str = "") -> str:
        """The URL of its probe and metrics port, plus ``path``."""
        return f"http://{settings.address_of(self.kind)}:{settings.jobs_worker_port(self.stack, self.index)}{path}"


def job_workers(settings: StackSettings, stacks: Iterable[Stack] = STACKS) -> list[JobWorker]:
    """The ``STACK_JOB_WORKERS`` workers of each of ``stacks``."""
    return [JobWorker(stack, index) for stack in stacks for index in range(settings.job_workers)]


def job_worker_argv(python: str = "python") -> list[str]:
    """The command that starts a job worker (its stack and port come from ``job_worker_env``)."""
    return [python, "-m", "job_worker"]


def job_worker_env(worker: JobWorker, settings: StackSettings) -> dict[str, str]:
    """The environment that makes ``job_worker_argv`` the given worker: its stack, port, Redis and models."""
    return {
        "WORKER_STACK": worker.stack,
        "WORKER_HOST": settings.bind_address(),
        "WORKER_PORT": str(settings.jobs_worker_port(worker.stack, worker.index)),
    } | scoring_env(worker.stack, settings)


def redis_argv(binary: str, settings: StackSettings) -> list[str]:
    """Redis on the bind address (loopback natively), with its append-only file in ``STACK_REDIS_DIR``: accepted jobs
    survive a restart (no RDB snapshots: the seeding job rebuilds the features anyway)."""
    return [
        binary, "--bind", settings.bind_address(), "--port", str(settings.redis_port),
        "--save", "", "--appendonly", "yes", "--appendfsync", settings.redis_appendfsync,
        "--dir", str(settings.redis_dir), "--daemonize", "no",
    ] + (["--requirepass", settings.redis_password_value()] if settings.redis_password else [])  # fmt: skip


def seed_argv(python: str = "python") -> list[str]:
    """The seeding job (reads ``SEED_*``/``REDIS_URL``)."""
    return [python, "-m", "feature_store.seed"]


def seed_watch_argv(python: str = "python") -> list[str]:
    """The seed keeper: seeds whenever the store lacks the seed's marker (a Redis that lost its data), until SIGTERM."""
    return [*seed_argv(python), "--watch"]


def seed_check_argv(python: str = "python") -> list[str]:
    """The seed's health probe: exits 0 only when the store holds the seed's marker."""
    return [*seed_argv(python), "--check"]


def seed_env(settings: StackSettings) -> dict[str, str]:
    """The environment of the seeding job."""
    return redis_env(settings)


def locust_master_argv(target_url: str, stack: Stack, python: str = "python") -> list[str]:
    """The master of a distributed Locust run against ``stack``'s scoring at ``target_url``: serves the web UI,
    spreads users over workers. ``--stack`` picks the predict path (without it the sync stack answers 404)."""
    return [python, "-m", "locust", "-f", LOCUSTFILE, "--master", "--host", target_url, "--stack", stack]


def locust_worker_argv(master_host: str, stack: Stack, python: str = "python") -> list[str]:
    """A Locust worker: runs the simulated users the master at ``master_host`` gives it, on ``stack``'s path."""
    return [python, "-m", "locust", "-f", LOCUSTFILE, "--worker", "--master-host", master_host, "--stack", stack]
