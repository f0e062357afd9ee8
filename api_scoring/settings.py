"""Settings of a scoring service (env prefix ``SCORING_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from service_runtime.core.settings import redis_password_field, redis_url_field, settings_config
from service_runtime.core.topology import DEFAULT_GRPC_PORTS, DEFAULT_PORTS, Model, Stack, predict_path

# Pools never smaller than this, whatever the worker's concurrency.
MIN_POOL = 8
# How scoring reaches the models (api_scoring/resources_*.py picks the clients once per worker).
ModelProtocol = Literal["rest", "oip-rest", "grpc"]


class ScoringSettings(BaseSettings):
    """One scoring service: where its feature store and models are, and how long it waits for them."""

    model_config = settings_config("SCORING_")

    redis_url: str = redis_url_field("SCORING_")
    redis_password: SecretStr | None = redis_password_field("SCORING_")
    deadline_s: float = Field(default=0.5, gt=0, description="End-to-end budget of a scoring request.")
    redis_timeout_s: float = Field(
        default=0.1, gt=0, description="Timeout of each Redis reply and pool wait (at most the deadline's remainder)."
    )
    redis_connect_timeout_s: float = Field(
        default=0.25, gt=0, description="Timeout to set up a new Redis connection (at most the deadline's remainder)."
    )
    redis_max_connections: int | None = Field(
        default=None, ge=1, description="Redis pool size per worker; default: the worker's concurrency (min 8)."
    )
    model_a_url: str | None = Field(default=None, description="model_a predict URL; default: this stack's.")
    model_b_url: str | None = Field(default=None, description="model_b predict URL; default: this stack's.")
    model_timeout_s: float = Field(
        default=0.3, gt=0, description="Timeout of each whole model call (at most the deadline's remainder)."
    )
    model_connect_timeout_s: float = Field(
        default=0.25, gt=0, description="Timeout of the TCP connect to a model (a busy worker takes tens of ms)."
    )
    model_max_answer_bytes: int = Field(
        default=16_384, ge=256, description="A model answer larger than this is refused without being buffered."
    )
    ready_timeout_s: float = Field(default=0.2, gt=0, description="Timeout of each readiness check of a dependency.")
    model_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="Connections per model per worker; default: the worker's concurrency (min 8).",
    )
    client_keepalive_s: float = Field(
        default=3.0, gt=0, description="Idle time before the client drops a pooled connection (< SERVER_KEEPALIVE_S)."
    )
    fanout: Literal["parallel", "sequential"] = Field(
        default="parallel",
        description="Sync stack only: call the two models in parallel (thread pool) or one after the other.",
    )
    max_body_bytes: int = Field(default=65_536, gt=0, description="Largest accepted request body.")
    model_protocol: ModelProtocol = Field(
        default="rest",
        description="How scoring calls the models: rest (the study's JSON route), oip-rest (the Open Inference "
        "Protocol's /v2/models/{name}/infer) or grpc (the protocol over gRPC).",
    )
    model_a_grpc_target: str | None = Field(
        default=None, description="model_a's gRPC address (host:port); default: this stack's."
    )
    model_b_grpc_target: str | None = Field(
        default=None, description="model_b's gRPC address (host:port); default: this stack's."
    )

    def model_url(self, model: Model, stack: Stack) -> str:
        """The predict URL of a model, defaulting to the stack's own service on this host."""
        configured = self.model_a_url if model == "model_a" else self.model_b_url
        return configured or f"http://127.0.0.1:{DEFAULT_PORTS[(stack, model)]}{predict_path(stack)}"

    def model_grpc_target(self, model: Model, stack: Stack) -> str:
        """The gRPC address of a model, defaulting to the stack's own service on this host."""
        configured = self.model_a_grpc_target if model == "model_a" else self.model_b_grpc_target
        return configured or f"127.0.0.1:{DEFAULT_GRPC_PORTS[(stack, model)]}"

    def model_pool(self, concurrency: int) -> int:
        """Connections per model per worker: one per request the worker serves at once, unless set."""
        return self.model_pool_size or max(MIN_POOL, concurrency)

    def redis_pool(self, concurrency: int) -> int:
        """Redis connections per worker: one per request the worker serves at once, unless set."""
        return self.redis_max_connections or max(MIN_POOL, concurrency)
