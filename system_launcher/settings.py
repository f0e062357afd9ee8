"""Settings of the launcher that runs the whole system (env prefix ``STACK_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from inference_protocol.settings import GRPC_PORTS
from reference.settings import RedisSettings, settings_config
from system_launcher.topology import (
    DEFAULT_EDGE_METRICS_PORTS,
    DEFAULT_JOBS_WORKER_PORTS,
    DEFAULT_PORTS,
    DEFAULT_REDIS_PORT,
    DEFAULT_SCORING_BACKEND_PORTS,
    MODELS,
    ROLES,
    Model,
    Role,
    Stack,
)

# The name Redis is reached at when every process has its own host name (compose, Kubernetes).
REDIS_NAME = "redis"
# The server of each stack's three services: its default, or Granian (the same server for both stacks).
AsyncServer = Literal["uvicorn", "granian"]
SyncServer = Literal["gunicorn", "granian"]
# gunicorn's worker classes for the sync stack (STACK_SYNC_SERVER=gunicorn).
SyncWorkerClass = Literal["gthread", "gevent", "sync", "meinheld"]
# Job workers per stack at most (natively each takes a port: STACK_*_JOBS_WORKER_PORT + its index).
MAX_JOB_WORKERS = 16


class StackSettings(RedisSettings):
    """Where the six services and Redis listen, and which server serves each stack (``REDIS_URL`` set: that Redis is
    used instead of starting one)."""

    model_config = settings_config("STACK_")

    host: str = Field(default="127.0.0.1", description="Address every service binds and is reached on.")
    bind_host: str | None = Field(
        default=None, description="Address the services and Redis bind instead; containers: 0.0.0.0."
    )
    per_service_hosts: bool = Field(
        default=False,
        description="Reach each service and Redis at its own name (async-model-a, redis), as in containers.",
    )
    async_model_a_port: int = DEFAULT_PORTS[("async", "model_a")]
    async_scoring_port: int = DEFAULT_PORTS[("async", "scoring")]
    async_model_b_port: int = DEFAULT_PORTS[("async", "model_b")]
    sync_model_a_port: int = DEFAULT_PORTS[("sync", "model_a")]
    sync_scoring_port: int = DEFAULT_PORTS[("sync", "scoring")]
    sync_model_b_port: int = DEFAULT_PORTS[("sync", "model_b")]
    redis_port: int = Field(default=DEFAULT_REDIS_PORT, description="Port of the Redis the launcher starts.")
    async_model_a_grpc_port: int = Field(
        default=GRPC_PORTS[("async", "model_a")], description="Where async model_a serves gRPC."
    )
    async_model_b_grpc_port: int = Field(
        default=GRPC_PORTS[("async", "model_b")], description="Where async model_b serves gRPC."
    )
    sync_model_a_grpc_port: int = Field(
        default=GRPC_PORTS[("sync", "model_a")], description="Where sync model_a serves gRPC."
    )
    sync_model_b_grpc_port: int = Field(
        default=GRPC_PORTS[("sync", "model_b")], description="Where sync model_b serves gRPC."
    )
    edge: bool = Field(
        default=True,
        description="Run the Envoy edge on each stack's scoring port, in front of the scoring server (false: the "
        "scoring server listens there itself).",
    )
    async_scoring_backend_port: int = Field(
        default=DEFAULT_SCORING_BACKEND_PORTS["async"], description="Where async scoring listens behind the edge."
    )
    sync_scoring_backend_port: int = Field(
        default=DEFAULT_SCORING_BACKEND_PORTS["sync"], description="Where sync scoring listens behind the edge."
    )
    async_edge_metrics_port: int = Field(
        default=DEFAULT_EDGE_METRICS_PORTS["async"], description="The async edge's /stats/prometheus."
    )
    sync_edge_metrics_port: int = Field(
        default=DEFAULT_EDGE_METRICS_PORTS["sync"], description="The sync edge's /stats/prometheus."
    )
    async_server: AsyncServer = Field(
        default="uvicorn",
        description="Server of the async stack's services: uvicorn (gunicorn with uvicorn workers) or granian "
        "(Granian, ASGI); granian on both stacks compares FastAPI with Flask on the same server.",
    )
    sync_server: SyncServer = Field(
        default="gunicorn",
        description="Server of the sync stack's services: gunicorn (with STACK_SYNC_WORKER_CLASS workers) or granian "
        "(Granian, WSGI, as many threads as gthread).",
    )
    sync_worker_class: SyncWorkerClass = Field(
        default="gthread",
        description="gunicorn's worker class on the sync stack: gthread (threads), gevent (green threads, "
        "monkey-patched), sync (one request at a time per worker), or meinheld (opt-in: make meinheld).",
    )
    redis_dir: Path = Field(
        default=Path("var/redis"),
        description="Where the Redis the launcher starts keeps its append-only file (jobs survive a restart); "
        "relative to the repository root.",
    )
    redis_appendfsync: Literal["always", "everysec", "no"] = Field(
        default="everysec",
        description="When Redis flushes its append-only file to disk: everysec can lose the last second of "
        "accepted jobs on a power loss; always loses none, at an fsync per write.",
    )
    job_workers: int = Field(
        default=2, ge=0, le=MAX_JOB_WORKERS,
        description="Job worker processes per stack (containers: replicas); 0: job mode accepts jobs, none runs.",
    )  # fmt: skip
    async_jobs_worker_port: int = Field(
        default=DEFAULT_JOBS_WORKER_PORTS["async"],
        description="Health probe and /metrics of the first async job worker; worker i natively: this + i.",
    )
    sync_jobs_worker_port: int = Field(
        default=DEFAULT_JOBS_WORKER_PORTS["sync"],
        description="Health probe and /metrics of the first sync job worker; worker i natively: this + i.",
    )
    # An explicit SERVER_WORKERS / SERVER_THREADS applies to every service, models included.
    model_workers: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("STACK_MODEL_WORKERS", "SERVER_WORKERS"),
        description="Workers per model service (uvicorn, gthread); scoring keeps one per core (doc/performance.md).",
    )
    model_threads: int = Field(
        default=128,
        ge=1,
        validation_alias=AliasChoices("STACK_MODEL_THREADS", "SERVER_THREADS"),
        description="Threads of a gthread model worker: as many calls as two scoring workers send.",
    )
    log_dir: Path = Field(default=Path("var/log"), description="Where each process's log goes.")
    run_dir: Path = Field(default=Path("var/run"), description="Where the edges' generated configurations go.")
    ready_timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for every service.")

    @model_validator(mode="after")
    def _worker_class_needs_gunicorn(self) -> StackSettings:
        if self.sync_server == "granian" and self.sync_worker_class != "gthread":
            raise ValueError(
                f"STACK_SYNC_WORKER_CLASS={self.sync_worker_class} chooses a gunicorn worker, but STACK_SYNC_SERVER="
                "granian: Granian serves the sync stack with threads (leave STACK_SYNC_WORKER_CLASS unset)"
            )
        return self

    def variant(self, stack: Stack) -> str:
        """What serves a stack's services: ``uvicorn`` (gunicorn's uvicorn workers), ``granian``, or the sync stack's
        gunicorn worker class (``gthread``, ``gevent``, ``sync``, ``meinheld``)."""
        server = self.async_server if stack == "async" else self.sync_server
        if server == "granian":
            return "granian"
        return "uvicorn" if stack == "async" else self.sync_worker_class

    def server_label(self, stack: Stack) -> str:
        """How a stack's services are served, in words: ``gunicorn with gthread workers``, ``Granian (WSGI)``."""
        variant = self.variant(stack)
        if variant == "granian":
            return f"Granian ({'ASGI' if stack == 'async' else 'WSGI'})"
        return f"gunicorn with {variant} workers"

    def port(self, stack: Stack, role: Role) -> int:
        """The port users reach one service at (for scoring with the edge on, the edge's)."""
        return getattr(self, f"{stack}_{role}_port")

    def listen_port(self, stack: Stack, role: Role) -> int:
        """The port a service's own server listens on: behind the edge, scoring's backend port."""
        if role == "scoring" and self.edge:
            return getattr(self, f"{stack}_scoring_backend_port")
        return self.port(stack, role)

    def grpc_port(self, stack: Stack, model: Model) -> int:
        """The port a model service serves the Open Inference Protocol over gRPC on."""
        return getattr(self, f"{stack}_{model}_grpc_port")

    def edge_ports(self, stack: Stack) -> dict[str, int]:
        """The edge's ports: where it listens for users, and its metrics."""
        return {"listen": self.port(stack, "scoring"), "metrics": getattr(self, f"{stack}_edge_metrics_port")}

    def edge_admin_socket(self, stack: Stack) -> Path:
        """The edge's admin interface: a Unix socket only its owner may use (mode 0600), never a port."""
        return self.run_dir / f"{stack}-edge-admin.sock"

    def jobs_worker_port(self, stack: Stack, index: int = 0) -> int:
        """The probe and metrics port of a stack's job worker ``index``: one each natively, the same in containers
        (each has its own address)."""
        base = getattr(self, f"{stack}_jobs_worker_port")
        return base if self.per_service_hosts else base + index

    def bind_address(self) -> str:
        """The address the services and Redis listen on."""
        return self.bind_host or self.host

    def address_of(self, name: str) -> str:
        """The host another process reaches ``name`` (a service or Redis) at."""
        return name if self.per_service_hosts else self.host

    def starts_redis(self) -> bool:
        """Whether the launcher starts Redis itself: ``REDIS_URL`` is not set."""
        return "redis_url" not in self.model_fields_set

    def effective_redis_url(self) -> str:
        """The given Redis, or the one the launcher starts."""
        return (
            self.redis_url if not self.starts_redis() else f"redis://{self.address_of(REDIS_NAME)}:{self.redis_port}/0"
        )


# Ports one stack needs on a host: its three services, Redis, then scoring's backend and the edge's metrics, then the
# two models' gRPC ports.
PORTS_PER_STACK = len(ROLES) + 3 + len(MODELS)


def one_stack_ports(stack: Stack, ports: list[int], jobs_worker_port: int | None = None) -> dict[str, int]:
    """``StackSettings`` port fields putting one stack (services, Redis, edge) on ``PORTS_PER_STACK`` given ports,
    and its job workers from ``jobs_worker_port`` on (the first port of a block of free ones, ``free_port_block``)."""
    if len(ports) != PORTS_PER_STACK:
        raise ValueError(
            f"need {PORTS_PER_STACK} ports: {', '.join(ROLES)}, Redis, scoring backend, edge metrics, "
            f"gRPC of {', '.join(MODELS)}"
        )
    services = {f"{stack}_{role}_port": port for role, port in zip(ROLES, ports, strict=False)}
    backend, metrics = ports[len(ROLES) + 1 : len(ROLES) + 3]
    grpc = {f"{stack}_{model}_grpc_port": port for model, port in zip(MODELS, ports[len(ROLES) + 3 :], strict=True)}
    workers = {} if jobs_worker_port is None else {f"{stack}_jobs_worker_port": jobs_worker_port}
    edge = {f"{stack}_scoring_backend_port": backend, f"{stack}_edge_metrics_port": metrics}
    return services | workers | edge | grpc | {"redis_port": ports[len(ROLES)]}
