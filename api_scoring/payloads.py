"""Request parsing, upstream answer checking and score combination, shared by both stacks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from feature_store.schema import validate_entity_id
from feature_store.vector import Vector, vector_from_request

from service_runtime.core import jsonio
from service_runtime.core.errors import ApiError, invalid_input, model_unavailable


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """Either an entity to look up or, as in the original study, the features themselves."""

    entity_id: str | None = None
    features: Vector | None = None


@dataclass(frozen=True, slots=True)
class ModelPrediction:
    """One model's prediction and identity."""

    name: str
    version: str
    prediction: float


def parse_score_body(raw: bytes) -> ScoreRequest:
    """Accept ``{"entity_id": "..."}`` or a bare list of features; anything else is a 4xx."""
    body = jsonio.loads(raw)
    if isinstance(body, dict):
        if set(body) != {"entity_id"}:
            raise invalid_input('body must be {"entity_id": "..."} or a list of features')
        return ScoreRequest(entity_id=validate_entity_id(body["entity_id"]))
    if isinstance(body, list):
        return ScoreRequest(features=vector_from_request(body))
    raise invalid_input('body must be {"entity_id": "..."} or a list of features')


# Model answers are read in pieces of this size, so that a refused one is never buffered whole.
ANSWER_CHUNK_BYTES = 16_384


def answer_too_large(label: str, limit: int) -> ApiError:
    """A model whose answer is larger than ``limit`` bytes is unavailable: its answer is not read further."""
    return model_unavailable(label, f"answer larger than {limit} bytes")


def check_declared_length(label: str, declared: str | int | None, limit: int) -> None:
    """Refuse an answer whose ``Content-Length`` already says it is too large, before reading any of it."""
    if declared is not None and str(declared).isdigit() and int(declared) > limit:
        raise answer_too_large(label, limit)


def parse_model_answer(label: str, raw: bytes) -> ModelPrediction:
    """Check a model service's 200 answer; a malformed one makes that model unavailable."""
    try:
        body = orjson.loads(raw)
        prediction = body["prediction"]
        # Inline, not _prediction(): the default transport's hot path stays as it was.
        if isinstance(prediction, bool) or not isinstance(prediction, float | int) or not math.isfinite(prediction):
            raise ValueError("prediction is not a finite number")
        return ModelPrediction(name=str(body["model"]), version=str(body["version"]), prediction=float(prediction))
    except (ValueError, KeyError, TypeError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise model_unavailable(label, f"invalid answer: {exc}") from None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the fan-out got: the predictions that came back, and the models that failed."""

    predictions: list[ModelPrediction]
    missing: list[str]


def settle(results: Sequence[tuple[str, ModelPrediction | ApiError]]) -> Outcome:
    """Keep what succeeded; one model is enough for a (degraded) answer, none is a 503."""
    predictions = [r for _, r in results if isinstance(r, ModelPrediction)]
    missing = [label for label, r in results if not isinstance(r, ModelPrediction)]
    if not predictions:
        reasons = "; ".join(r.message for _, r in results if isinstance(r, ApiError))
        raise ApiError(503, "models_unavailable", f"no model answered: {reasons}", upstream=missing)
    return Outcome(predictions, missing)


def combine(entity_id: str | None, outcome: Outcome) -> dict[str, Any]:
    """The scoring answer: the mean of the predictions (also as the original's ``detail``), each model,
    and ``degraded``: the models left out (empty when all answered)."""
    predictions = outcome.predictions
    score = sum(p.prediction for p in predictions) / len(predictions)
    return {
        "entity_id": entity_id,
        "score": score,
        "detail": score,
        "models": [{"name": p.name, "version": p.version, "prediction": p.prediction} for p in predictions],
        "degraded": outcome.missing,
    }
