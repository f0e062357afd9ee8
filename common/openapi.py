"""OpenAPI pieces shared by the services' docs: the feature list, the error body, and a request-body helper.

The handlers parse bodies with the shared plain-Python parsers (one behaviour for both stacks);
these pydantic models only describe that behaviour in the FastAPI docs at ``/docs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from feature_store.schema import FEATURE_NAMES, MAX_ABS_FEATURE, N_FEATURES

FEATURES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "number", "minimum": -MAX_ABS_FEATURE, "maximum": MAX_ABS_FEATURE},
    "minItems": N_FEATURES,
    "maxItems": N_FEATURES,
    "description": f"Feature vector, in order: {', '.join(FEATURE_NAMES)}. Finite numbers only.",
    "example": [5.1, 3.5, 1.4, 0.2],
}


class ErrorBody(BaseModel):
    """Every error answer of both stacks (more keys may say what failed: ``upstream``, ``field``...)."""

    model_config = ConfigDict(extra="allow")

    status: int = Field(description="The HTTP status, repeated.")
    error: str = Field(description="Machine-readable code, e.g. entity_not_found.")
    message: str = Field(description="What went wrong, for humans.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Body is not valid JSON"},
    413: {"model": ErrorBody, "description": "Body too large"},
    422: {"model": ErrorBody, "description": "Valid JSON, invalid request"},
    503: {"model": ErrorBody, "description": "Overloaded (shed), or a dependency unavailable"},
}


def request_body(*alternatives: dict[str, Any]) -> dict[str, Any]:
    """An ``openapi_extra`` request body accepting any of the given JSON schemas."""
    schema = alternatives[0] if len(alternatives) == 1 else {"oneOf": list(alternatives)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def spec_for_stack(spec: dict[str, Any], from_path: str, to_path: str, title: str) -> dict[str, Any]:
    """A copy of an OpenAPI document with one predict path renamed, for the twin stack."""
    renamed = {**spec, "info": {**spec["info"], "title": title}}
    renamed["paths"] = {(to_path if path == from_path else path): item for path, item in spec["paths"].items()}
    return renamed
