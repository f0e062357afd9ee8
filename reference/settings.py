"""The services' settings, one class per service, read from the environment and then ``.env`` (pydantic-settings)."""

from __future__ import annotations

import os
from string import ascii_lowercase
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def settings_config(prefix: str) -> SettingsConfigDict:
    """Variables named ``{prefix}NAME``, then ``.env``."""
    # NAME= (empty, as in .env.example) means the default; variables of other classes are ignored.
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore", env_ignore_empty=True,
                              validate_by_name=True)  # fmt: skip


def _env(name: str, default: Any, description: str, **constraints: Any) -> Any:
    """A setting read from the variable ``name`` whatever the class's prefix: every class declares it once here."""
    return Field(default, validation_alias=name, description=description, **constraints)


def cores() -> int:
    """The cores this process may run on (CPU affinity, unlike ``os.cpu_count``)."""
    return len(os.sched_getaffinity(0))


class ServiceSettings(BaseSettings):
    """What every service reads: how gunicorn runs it (``SERVER_*``), its body limit and its logs."""

    model_config = settings_config("SERVER_")

    name: str = _env("SERVER_NAME", "service", "The service's name in logs, metrics and ps.")
    host: str = _env("SERVER_HOST", "127.0.0.1", "Address to bind.")
    port: int = _env("SERVER_PORT", 8000, "Port to bind.", ge=1, le=65535)
    workers: int | None = _env("SERVER_WORKERS", None, "Worker processes; default: one per core.", ge=1)
    threads: int = _env("SERVER_THREADS", 64, "Sync stack: threads per worker, the requests it serves at once.", ge=1)
    keepalive_s: int = _env("SERVER_KEEPALIVE_S", 5, "Idle keep-alive of every server; clients keep less.", ge=1)
    timeout_s: int = _env("SERVER_TIMEOUT_S", 30, "A worker silent this long is restarted.", ge=1)
    graceful_timeout_s: int = _env("SERVER_GRACEFUL_TIMEOUT_S", 10, "On stop, in-flight requests get this.", ge=2)
    backlog: int = _env("SERVER_BACKLOG", 2048, "Listen queue length.", ge=1)
    max_in_flight: int | None = _env(
        "SERVER_MAX_IN_FLIGHT", None, "Requests per worker before a fast 503; default: 256 async, threads sync.", ge=1
    )
    trust_request_start: bool = _env(
        "SERVER_TRUST_REQUEST_START", False, "Count each deadline from the edge's x-request-start (behind it only)."
    )
    max_body_bytes: int = _env("MAX_BODY_BYTES", 65_536, "Largest request body, everywhere (413 above).", ge=1)
    log_level: str = _env("LOG_LEVEL", "info", "Log level of every service.")
    access_log: bool = _env("ACCESS_LOG", False, "Log every request as JSON (server errors always are).")

    def worker_count(self) -> int:
        """Worker processes: ``SERVER_WORKERS``, or one per core."""
        return self.workers or cores()

    def in_flight_limit(self, stack: str) -> int:
        """Requests one worker serves at once before shedding: an event loop holds many, a thread one each."""
        return self.max_in_flight or (256 if stack == "async" else self.threads)

    def client_keepalive_s(self) -> float:
        """How long a pooled client connection may idle: less than every server's keep-alive, so that no client
        sends on a connection the server is closing."""
        return self.keepalive_s * 0.6


class RedisSettings(BaseSettings):
    """Where Redis is, for every process that reads or writes it."""

    model_config = settings_config("")

    redis_url: str = _env("REDIS_URL", "redis://127.0.0.1:6379/0", "The Redis of the feature store and the jobs.")
    redis_password: SecretStr | None = _env("REDIS_PASSWORD", None, "That Redis' password (AUTH); unset: none.")

    def redis_password_value(self) -> str | None:
        """The password itself, or None."""
        return self.redis_password.get_secret_value() if self.redis_password else None


class ScoringSettings(ServiceSettings, RedisSettings):
    """A scoring service: where its features and models are, and how long it waits for them."""

    model_config = settings_config("SCORING_")
    deadline_s: float = Field(0.5, gt=0, description="End-to-end budget of a scoring request.")
    redis_timeout_s: float = Field(0.1, gt=0, description="Timeout of each Redis reply (within the deadline).")
    model_timeout_s: float = Field(0.3, gt=0, description="Timeout of each whole model call (within the deadline).")
    connect_timeout_s: float = Field(0.25, gt=0, description="Timeout of a new connection to Redis or a model.")
    model_urls: list[str] | None = Field(None, description="The models' predict URLs; default: this stack's two.")
    pool_size: int | None = Field(None, ge=1, description="Connections per dependency per worker; default: in flight.")
    max_answer_bytes: int = Field(16_384, ge=256, description="A model's answer larger than this is refused.")

    def models(self, stack: str) -> dict[str, str]:
        """Each model's name and predict URL: ``SCORING_MODEL_URLS`` (named model_a, model_b... in that order), or
        this stack's model_a and model_b on this host."""
        ports = (8000, 8002) if stack == "async" else (5000, 5002)
        urls = self.model_urls or [f"http://127.0.0.1:{port}/api/v1/ml/{stack}/predict" for port in ports]
        return {f"model_{ascii_lowercase[i]}": url for i, url in enumerate(urls)}

    def pool(self, stack: str) -> int:
        """Connections per dependency per worker: one per request it serves at once (at least 8)."""
        return self.pool_size or max(8, self.in_flight_limit(stack))


class ModelSettings(ServiceSettings):
    """A model service: which model it serves."""

    model_config = settings_config("MODEL_")

    model: str = _env("MODEL_NAME", "model_a", "The model served: model_a or model_b.")


class ModelCostSettings(BaseSettings):
    """Lab knobs of the simulated model: the accelerator's wait and the CPU each prediction holds."""

    model_config = settings_config("MODEL_")

    wait_min_ms: float = Field(40.0, ge=0, description="Shortest simulated wait of a prediction.")
    wait_max_ms: float = Field(50.0, ge=0, description="Longest simulated wait; 0: no wait.")
    cpu_ms: float = Field(0.0, ge=0, description="CPU each prediction holds on its thread (the GIL); 0: none.")
