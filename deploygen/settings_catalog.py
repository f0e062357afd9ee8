"""Every setting of the system, where it is declared, and who sets it: an operator in production, the lab, or the
launcher, compose and Kubernetes for each process (wiring).

A setting is one environment variable, declared by one field of one settings class; a class that inherits the field
(``ScoringSettings`` reads ``REDIS_URL`` from ``RedisSettings``) reads the same setting and declares nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from apps.profiling import ProfilingSettings
from apps.settings import FanoutSettings
from benchmark.settings import BenchSettings
from feature_store.seed import SeedSettings
from inference_protocol.settings import ProtocolSettings, TransportSettings
from job_queue.settings import JobSettings
from job_worker.settings import WorkerSettings
from model_serving.settings import ServingSettings
from reference.settings import ModelCostSettings, ModelSettings, RedisSettings, ScoringSettings, ServiceSettings
from system_launcher.edge import EdgeSettings
from system_launcher.settings import StackSettings

# Every settings class of the system, in the order the settings files list them.
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    RedisSettings,
    ServiceSettings,
    ScoringSettings,
    ModelSettings,
    ProtocolSettings,
    EdgeSettings,
    JobSettings,
    WorkerSettings,
    SeedSettings,
    StackSettings,
    ModelCostSettings,
    ServingSettings,
    TransportSettings,
    FanoutSettings,
    ProfilingSettings,
    BenchSettings,
)

# What the launcher, docker-compose.yml and the Kubernetes overlays set for each process, to make it one service and
# connect it to the others: an operator never sets these (make up refuses some of them).
WIRING = frozenset({
    "SERVER_NAME", "SERVER_HOST", "SERVER_PORT", "SERVER_TRUST_REQUEST_START",
    "MODEL_NAME", "MODEL_GRPC_PORT",
    "SCORING_MODEL_URLS", "SCORING_MODEL_GRPC_TARGETS",
    "WORKER_STACK", "WORKER_HOST", "WORKER_PORT", "WORKER_NAME",
})  # fmt: skip

# What an operator sets in production (.env.example): where Redis is, how each server runs, the budgets and timeouts
# of a request, the edge's limits, the job queue's policy. Everything else is a lab knob (lab.env.example).
PRODUCTION = frozenset({
    "REDIS_URL", "REDIS_PASSWORD",
    "SERVER_WORKERS", "SERVER_THREADS", "SERVER_KEEPALIVE_S", "SERVER_TIMEOUT_S", "SERVER_GRACEFUL_TIMEOUT_S",
    "SERVER_BACKLOG", "SERVER_MAX_IN_FLIGHT", "MAX_BODY_BYTES", "LOG_LEVEL", "ACCESS_LOG",
    "SCORING_DEADLINE_S", "SCORING_REDIS_TIMEOUT_S", "SCORING_MODEL_TIMEOUT_S", "SCORING_CONNECT_TIMEOUT_S",
    "SCORING_POOL_SIZE", "SCORING_MAX_ANSWER_BYTES",
    "MODEL_GRPC", "MODEL_GRPC_GRACE_S",
    "EDGE_REQUEST_HEADERS_TIMEOUT_S", "EDGE_REQUEST_TIMEOUT_S", "EDGE_IDLE_TIMEOUT_S", "EDGE_MAX_REQUEST_HEADERS_KB",
    "EDGE_MAX_CONNECTIONS", "EDGE_QUEUE", "EDGE_UPSTREAM_CONNECT_TIMEOUT_S", "EDGE_JOBS_SLOTS",
    "JOBS_MAX_QUEUE", "JOBS_RETRY_AFTER_S", "JOBS_VISIBILITY_TIMEOUT_S", "JOBS_RESULT_TTL_S", "JOBS_MAX_AGE_S",
    "JOBS_MAX_ATTEMPTS", "JOBS_REDIS_TIMEOUT_S", "JOBS_REDIS_CONNECT_TIMEOUT_S",
    "WORKER_CONCURRENCY", "WORKER_GRACE_S",
    "SEED_ENTITIES",
})  # fmt: skip
MAX_PRODUCTION_SETTINGS = 40

Use = Literal["production", "lab", "wiring"]


@dataclass(frozen=True)
class Setting:
    """One environment variable and the field that declares it."""

    name: str
    owner: type[BaseSettings]  # the class whose own body declares the field
    field: FieldInfo
    also_read_from: tuple[str, ...] = ()  # other variables the field falls back to

    @property
    def use(self) -> Use:
        """Who sets it."""
        return "wiring" if self.name in WIRING else "production" if self.name in PRODUCTION else "lab"

    def default_text(self) -> str:
        """The default as it would be written in an env file (empty: none)."""
        return env_value(self.field.get_default(call_default_factory=True))


def env_value(value: Any) -> str:
    """A value as pydantic-settings reads it back from an env file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def variable_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> tuple[str, ...]:
    """The variables a field reads, its own name first (as pydantic-settings looks them up)."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return (f"{cls.model_config.get('env_prefix', '')}{name}".upper(),)


def declared_fields(cls: type[BaseSettings]) -> list[str]:
    """The fields a class's own body declares (not those it inherits)."""
    own = vars(cls).get("__annotations__", {})
    return [name for name in cls.model_fields if name in own]


def declarations(classes: tuple[type[BaseSettings], ...] = SETTINGS_CLASSES) -> list[Setting]:
    """Every declaration of every class, in order; a variable declared twice appears twice."""
    found = []
    for cls in classes:
        for name in declared_fields(cls):
            field = cls.model_fields[name]
            first, *others = variable_names(cls, name, field)
            found.append(Setting(first, cls, field, tuple(others)))
    return found


def settings(use: Use | None = None) -> list[Setting]:
    """Every setting (or those of one use), each once, in the classes' order."""
    return [s for s in declarations() if use is None or s.use == use]
