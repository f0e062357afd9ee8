"""The wire contract of both stacks: paths, and the pydantic models that validate and document every body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reference.core import ENTITY_ID_PATTERN, FEATURE_NAMES, MAX_ABS_FEATURE, N_FEATURES, ApiError, unavailable

HEALTH_PATH = "/api/v1/healthcheck"
READY_PATH = "/api/v1/ready"
METRICS_PATH = "/metrics"


def predict_path(stack: str) -> str:
    """``/api/v1/ml/async/predict`` on the async services, ``/api/v1/ml/sync/predict`` on the sync ones."""
    return f"/api/v1/ml/{stack}/predict"


def liveness_url(service_url: str) -> str:
    """The liveness probe of the service at ``service_url``."""
    parts = urlsplit(service_url)
    return f"{parts.scheme}://{parts.netloc}{HEALTH_PATH}"


EntityId = Annotated[str, Field(pattern=ENTITY_ID_PATTERN, description="An entity of the feature store.")]
# strict: a JSON number (integer or not); a string or a boolean is not a feature.
Feature = Annotated[float, Field(strict=True, ge=-MAX_ABS_FEATURE, le=MAX_ABS_FEATURE, allow_inf_nan=False)]
Features = Annotated[
    list[Feature],
    Field(min_length=N_FEATURES, max_length=N_FEATURES, description=f"In order: {', '.join(FEATURE_NAMES)}."),
]


def _exactly_one_schema(schema: dict[str, Any]) -> None:
    # The schema says "one of the two"; the null default that lets either be left out is not part of the contract.
    # A field given as null counts as left out (the validator below reads None either way), so each branch asks for
    # its field present *and not null*: {"features": null} is then invalid, as the service answers it (422), and
    # {"entity_id": "e1", "features": null} valid, as the service takes it.
    branches = []
    for name, field in schema["properties"].items():
        field.pop("default", None)
        given = [option["type"] for option in field["anyOf"] if option.get("type") != "null"]
        branches.append({"required": [name], "properties": {name: {"type": given[0]}}})
    schema["oneOf"] = branches


class ScoreRequest(BaseModel):
    """Score an entity from its stored features, or a feature vector given whole: exactly one of the two."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_schema)

    entity_id: EntityId | None = None
    features: Features | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScoreRequest:
        if (self.entity_id is None) == (self.features is None):
            raise ValueError("give either entity_id or features")
        return self


class PredictRequest(BaseModel):
    """A feature vector for a model."""

    model_config = ConfigDict(extra="forbid")

    features: Features


class Prediction(BaseModel):
    """One model's prediction, and which model made it."""

    model: str
    version: str
    prediction: Annotated[float, Field(strict=True, allow_inf_nan=False)]


class Score(BaseModel):
    """The combined score: the mean of the predictions of the models that answered."""

    entity_id: str | None = Field(description="The entity scored; null when the features were given.")
    score: float
    models: list[Prediction]
    degraded: list[str] = Field(description="The models that failed and were left out; empty normally.")


class ErrorBody(BaseModel):
    """Every error of both stacks, with keys that say what failed (``field``, ``upstream``...) where it helps."""

    model_config = ConfigDict(extra="allow")

    status: int
    error: str = Field(description="A stable code: invalid_json, invalid_input, entity_not_found, overloaded...")
    message: str


# The errors each route can answer, documented the same way on both stacks.
COMMON_ERRORS: dict[int, str] = {
    400: "The body is not valid JSON",
    413: "The body is larger than MAX_BODY_BYTES",
    415: "The body is not application/json",
    422: "The body is not a valid request",
    503: "Overloaded, past its deadline, or a dependency is unavailable",
}
SCORE_ERRORS: dict[int, str] = COMMON_ERRORS | {404: "No features are stored for the entity"}


def combine(entity_id: str | None, outcomes: Sequence[tuple[str, Prediction | ApiError]]) -> Score:
    """The mean of the predictions that came back; one model is enough (``degraded``), none is a 503."""
    predictions = [o for _, o in outcomes if isinstance(o, Prediction)]
    missing = [name for name, o in outcomes if not isinstance(o, Prediction)]
    if not predictions:
        reasons = "; ".join(o.message for _, o in outcomes if isinstance(o, ApiError))
        raise unavailable("models_unavailable", f"no model answered: {reasons}", missing)
    score = sum(p.prediction for p in predictions) / len(predictions)
    return Score(entity_id=entity_id, score=score, models=predictions, degraded=missing)


def request_error(errors: Sequence[dict[str, Any]]) -> ApiError:
    """A body that failed validation, from pydantic's errors: 400 if it is not JSON at all (or empty), else 422."""
    if any(e["type"] == "json_invalid" or (e["type"] == "missing" and tuple(e["loc"]) == ("body",)) for e in errors):
        return ApiError(400, "invalid_json", "the body is not valid JSON")
    first = errors[0]
    loc = [str(part) for part in first["loc"] if part != "body"]
    if not loc and first["type"] != "value_error":  # the body itself is not an object: each framework says it its way
        return ApiError(422, "invalid_input", "body: the body must be a JSON object", field="body")
    where = ".".join(loc) or "body"
    return ApiError(422, "invalid_input", f"{where}: {first['msg']}", field=loc[0] if loc else "body")
