"""OpenAPI description of the scoring endpoint."""

from __future__ import annotations

from pydantic import BaseModel, Field

from common.openapi import ERROR_RESPONSES, FEATURES_SCHEMA, ErrorBody, request_body
from feature_store.schema import ENTITY_ID_MAX_LENGTH


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

SCORE_DOC = {
    "summary": "Score an entity (or a feature vector)",
    "operation_id": "score",
    "response_model": Score,
    "responses": {
        **ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "Unknown entity"},
        503: {"model": ErrorBody, "description": "Overloaded, deadline passed, or Redis or both models unavailable"},
    },
    "openapi_extra": request_body(ENTITY_SCHEMA, FEATURES_SCHEMA),
}
