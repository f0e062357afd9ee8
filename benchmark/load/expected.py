"""The exact answer a scoring service owes for a seeded entity, computed without Redis or HTTP.

Shared by the integration tests and the load generator, so a benchmark counts a wrong score as a failure.
"""

from __future__ import annotations

from functools import cache

from api_model.model import artifact_path, load_model
from api_scoring.payloads import ModelPrediction, Outcome, combine
from feature_store.seed import features_for
from service_runtime.core import jsonio

MODELS = [load_model(artifact_path("model_a")), load_model(artifact_path("model_b"))]


def expected_features(entity_id: str) -> tuple[float, ...]:
    """The seeded features, recomputed without Redis."""
    return features_for(entity_id)


def expected_answer(entity_id: str | None, features: tuple[float, ...]) -> dict:
    """The scoring answer computed in this process from the shared model and combination code."""
    predictions = [ModelPrediction(m.name, m.version, m.predict(features)) for m in MODELS]
    return combine(entity_id, Outcome(predictions, missing=[]))


def expected_body(entity_id: str) -> bytes:
    """The exact bytes a scoring service must answer for a seeded entity."""
    return jsonio.dumps(expected_answer(entity_id, expected_features(entity_id)))


def degraded_bodies(entity_id: str) -> tuple[bytes, ...]:
    """The exact bytes of each degraded answer (one model left out) a scoring service may give for an entity."""
    features = expected_features(entity_id)
    predictions = [ModelPrediction(m.name, m.version, m.predict(features)) for m in MODELS]
    return tuple(
        jsonio.dumps(combine(entity_id, Outcome([p for p in predictions if p is not left_out], missing=[label])))
        for label, left_out in zip(("model_a", "model_b"), predictions, strict=True)
    )


@cache
def expected_score(entity_id: str) -> float:
    """The score a scoring service must answer for a seeded entity (memoised: the load generator asks often)."""
    return expected_answer(entity_id, expected_features(entity_id))["score"]
