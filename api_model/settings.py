"""Settings of a model service (env prefix ``MODEL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from api_model.model import artifact_path
from service_runtime.core.settings import settings_config
from service_runtime.core.topology import DEFAULT_GRPC_PORTS, MODELS, Stack


class ModelSettings(BaseSettings):
    """One model service: which model it serves and what each inference costs."""

    model_config = settings_config("MODEL_")

    name: str = Field(default="model_a", description="Model to serve: model_a or model_b.")
    artifact: Path | None = Field(default=None, description="Artifact file; default: the bundled one for name.")
    wait_min_ms: float = Field(default=40.0, ge=0, description="Lower bound of the simulated inference wait.")
    wait_max_ms: float = Field(default=50.0, ge=0, description="Upper bound of the wait; 0 disables it.")
    cpu_ms: float = Field(default=0.0, ge=0, description="CPU burned per prediction (CPU-bound mode); 0: off.")
    max_body_bytes: int = Field(
        default=65_536, gt=0, description="Largest accepted request body (and gRPC message, each way)."
    )
    grpc: bool = Field(default=True, description="Serve the Open Inference Protocol over gRPC beside HTTP.")
    grpc_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="gRPC port; default: 8100/8102 (async model_a/model_b), 5100/5102 (sync); 0: any free port.",
    )  # fmt: skip
    grpc_grace_s: float = Field(
        default=5.0, ge=0, description="On shutdown, gRPC calls in flight get this long to finish."
    )

    def grpc_port_on(self, stack: Stack) -> int:
        """The gRPC port of this model service on ``stack``."""
        if self.grpc_port is not None:
            return self.grpc_port
        return DEFAULT_GRPC_PORTS[(stack, self.name)] if self.name in MODELS else 0

    def artifact_file(self) -> Path:
        """The artifact to load."""
        return self.artifact or artifact_path(self.name)
