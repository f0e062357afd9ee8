"""Settings of a model service (env prefix ``MODEL_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from api_model.model import artifact_path
from service_runtime.core.settings import settings_config


class ModelSettings(BaseSettings):
    """One model service: which model it serves and what each inference costs."""

    model_config = settings_config("MODEL_")

    name: str = Field(default="model_a", description="Model to serve: model_a or model_b.")
    artifact: Path | None = Field(default=None, description="Artifact file; default: the bundled one for name.")
    wait_min_ms: float = Field(default=40.0, ge=0, description="Lower bound of the simulated inference wait.")
    wait_max_ms: float = Field(default=50.0, ge=0, description="Upper bound of the wait; 0 disables it.")
    cpu_ms: float = Field(default=0.0, ge=0, description="CPU burned per prediction (CPU-bound mode); 0: off.")
    max_body_bytes: int = Field(default=65_536, gt=0, description="Largest accepted request body.")

    def artifact_file(self) -> Path:
        """The artifact to load."""
        return self.artifact or artifact_path(self.name)
