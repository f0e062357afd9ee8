"""The scoring service described without a web framework: its OpenAPI document and its middleware policy."""

from __future__ import annotations

from feature_store.schema import ENTITY_ID_MAX_LENGTH, FEATURES_JSON_SCHEMA
from pydantic import BaseModel, Field

from api_scoring.settings import ScoringSettings
from service_runtime.core.openapi import (
    ERROR_RESPONSES,
    Operation,
    document,
    probe_operations,
    request_body,
)
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import Stack, predict_path
from service_runtime.web.service import Service, service_policy

VERSION = "1.0.0"


class ModelAnswer(BaseModel):
    """One model's prediction and identity."""

    name: str
    version: str
    prediction: float


class Score(BaseModel):
    """The combined score."""

    entity_id: str | None = Field(description="The entity scored; null when features were given directly.")
    score: float = Field(description="Mean of the models' predictions.")
    detail: float = Field(description="The score again, under the original study's field name.")
    models: list[ModelAnswer]
    degraded: list[str] = Field(description="Models that failed and were left out of the score; empty normally.")


ENTITY_SCHEMA = {
    "type": "object",
    "properties": {
        "entity_id": {
            "type": "string",
            "pattern": f"^[A-Za-z0-9_-]{{1,{ENTITY_ID_MAX_LENGTH}}}$",
            "example": "42",
        }
    },
    "required": ["entity_id"],
    "additionalProperties": False,
}


def score_operation(stack: Stack) -> Operation:
    """The scoring route: ``{"entity_id": "..."}``, or the original study's bare list of features."""
    errors = ERROR_RESPONSES | {
        404: "Unknown entity",
        503: "Overloaded, deadline passed, or Redis or both models unavailable",
    }
    return Operation(
        "post", predict_path(stack), "Score an entity (or a feature vector)", "score", response=Score,
        request=request_body(ENTITY_SCHEMA, FEATURES_JSON_SCHEMA), errors=errors,
    )  # fmt: skip


def describe(settings: ScoringSettings, server: ServerSettings, stack: Stack) -> Service:
    """The scoring service of ``stack``: the same document on both stacks but for the stack in its paths."""
    operations = [*probe_operations(), score_operation(stack)]
    return Service(
        name="scoring",
        stack=stack,
        policy=service_policy(server, stack, deadline_s=settings.deadline_s),
        openapi=document(f"scoring ({stack})", VERSION, operations),
    )
