"""Settings of the protocol: the model services' gRPC server, and the lab's choice of transport to the models."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.settings import settings_config

# The default gRPC port of each model service, beside its HTTP port (8000/8002 async, 5000/5002 sync).
GRPC_PORTS = {("async", "model_a"): 8100, ("async", "model_b"): 8102, ("sync", "model_a"): 5100,
              ("sync", "model_b"): 5102}  # fmt: skip


class ProtocolSettings(BaseSettings):
    """The model service's Open Inference Protocol over gRPC, beside its HTTP routes (``MODEL_GRPC*``)."""

    model_config = settings_config("MODEL_")

    grpc: bool = Field(True, description="Serve the Open Inference Protocol over gRPC beside HTTP.")
    grpc_port: int | None = Field(None, ge=0, le=65535, description="gRPC port; default: 8100/8102, 5100/5102.")
    grpc_grace_s: float = Field(5.0, ge=0, description="On shutdown, gRPC calls in flight get this long.")
    grpc_max_connections: int = Field(1000, ge=1, description="gRPC connections one worker holds at most.")
    grpc_max_pending_calls: int = Field(
        1000, ge=1, description="gRPC calls one worker's server holds before its code takes them; beyond, some end "
        "CANCELLED, and all beyond three times this (doc/protocol.md)."
    )  # fmt: skip

    def grpc_port_on(self, stack: str, model: str) -> int:
        """The gRPC port of ``model`` on ``stack``."""
        return self.grpc_port if self.grpc_port is not None else GRPC_PORTS.get((stack, model), 0)


class TransportSettings(BaseSettings):
    """Lab knobs of the scoring service: how it reaches the models."""

    model_config = settings_config("SCORING_")

    model_protocol: Literal["rest", "oip-rest", "grpc"] = Field(
        "rest", description="rest: the models' predict route; oip-rest: the Open Inference Protocol's "
        "/v2/models/{name}/infer; grpc: the protocol over gRPC."
    )  # fmt: skip
    model_grpc_targets: list[str] | None = Field(
        None, description="The models' gRPC addresses (host:port), in the order of SCORING_MODEL_URLS."
    )

    def grpc_targets(self, stack: str, names: list[str]) -> list[str]:
        """Each model's gRPC address: the configured ones, or this stack's on this host."""
        return self.model_grpc_targets or [f"127.0.0.1:{GRPC_PORTS[(stack, name)]}" for name in names]
