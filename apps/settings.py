"""Lab settings of the services make up runs that belong to no other package."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.settings import settings_config


class FanoutSettings(BaseSettings):
    """Lab knob of the sync scoring service: call the models in parallel (the reference) or one after the other."""

    model_config = settings_config("SCORING_")

    fanout: Literal["parallel", "sequential"] = Field(
        "parallel", description="Sync stack: call the models on a thread pool, or one after the other."
    )
