"""Settings of the launcher that runs the whole system (env prefix ``STACK_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from service_runtime.core.server_settings import WorkerClass
from service_runtime.core.settings import settings_config
from service_runtime.core.topology import DEFAULT_PORTS, DEFAULT_REDIS_PORT, ROLES, Role, Stack

# The name Redis is reached at when every process has its own host name (compose, Kubernetes).
REDIS_NAME = "redis"


class StackSettings(BaseSettings):
    """Where the six services and Redis listen, and how the sync stack is served."""

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
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STACK_REDIS_URL", "REDIS_URL"),
        description="Use this Redis instead of starting one.",
    )
    sync_worker_class: WorkerClass = Field(default="gthread", description="gthread, sync or meinheld.")
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
    ready_timeout_s: float = Field(default=60.0, gt=0, description="How long to wait for every service.")

    def port(self, stack: Stack, role: Role) -> int:
        """The port of one service."""
        return getattr(self, f"{stack}_{role}_port")

    def bind_address(self) -> str:
        """The address the services and Redis listen on."""
        return self.bind_host or self.host

    def address_of(self, name: str) -> str:
        """The host another process reaches ``name`` (a service or Redis) at."""
        return name if self.per_service_hosts else self.host

    def effective_redis_url(self) -> str:
        """The given Redis, or the one the launcher starts."""
        return self.redis_url or f"redis://{self.address_of(REDIS_NAME)}:{self.redis_port}/0"


def one_stack_ports(stack: Stack, ports: list[int]) -> dict[str, int]:
    """``StackSettings`` port fields putting one stack's three services and its Redis on four given ports."""
    if len(ports) != len(ROLES) + 1:
        raise ValueError(f"need {len(ROLES) + 1} ports: {', '.join(ROLES)} and Redis")
    return {f"{stack}_{role}_port": port for role, port in zip(ROLES, ports, strict=False)} | {"redis_port": ports[-1]}
