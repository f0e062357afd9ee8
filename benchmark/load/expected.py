"""The exact answer a scoring service owes for a seeded entity, computed without Redis or HTTP.

Shared by the integration tests and the load generator, so a benchmark counts a wrong score as a failure.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from feature_store.seed import features_for
from model_serving.settings import ServingSettings
from reference.api import Prediction, Score, combine
from reference.core import ApiError, LogisticModel, unavailable

CHUNK = 512  # rows per ONNX call when precomputing: bounded memory, most of the batching gain
# The ONNX answers precomputed once per set of models and entities (var/ is the project's scratch directory).
CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache" / "expected"
CACHE_PROBE = 16  # entities computed afresh and compared with the cached bodies before these are used
CACHE_FILES = 8


def expected_models() -> list[Any]:
    """The models the scoring service calls, in order, by this process's ``MODEL_KIND`` (a variant's generator runs
    with the variant's ``MODEL_*`` settings): the logistic models, or the seeded ONNX MLPs at the configured size;
    with ``BENCH_FANOUT`` (the crossover's fan-out), model_a and model_b in turn, that many calls."""
    settings = ServingSettings()
    if settings.kind == "onnx":
        # Imported only here: Locust's processes import this module, and onnxruntime would slow their start.
        from model_serving.onnx_model import OnnxModel

        models = [OnnxModel(name, settings.onnx_width, settings.onnx_depth) for name in ("model_a", "model_b")]
    else:
        models = [LogisticModel.load("model_a"), LogisticModel.load("model_b")]
    fanout = int(os.environ.get("BENCH_FANOUT", "2"))
    return [models[i % 2] for i in range(fanout)]


MODELS = expected_models()


def expected_features(entity_id: str) -> tuple[float, ...]:
    """The seeded features, recomputed without Redis."""
    return features_for(entity_id)


def _predictions(model: Any, values: list[float]) -> list[Prediction]:
    return [Prediction(model=model.name, version=model.version, prediction=v) for v in values]


def expected_answer(entity_id: str | None, features: tuple[float, ...]) -> Score:
    """The scoring answer computed in this process from the reference's own model and combination code."""
    return combine(entity_id, [(m.name, _predictions(m, _predict_all(m, [features]))[0]) for m in MODELS])


@cache
def expected_body(entity_id: str) -> bytes:
    """The exact bytes a scoring service must answer for a seeded entity (memoised: clients check every answer)."""
    return expected_answer(entity_id, expected_features(entity_id)).model_dump_json().encode()


def expected_bodies(entity_ids: list[str]) -> list[bytes]:
    """The exact bytes owed for each entity; the ONNX model's are kept on disk between the steps of a run (about
    17 s of CPU for 10,000 entities each time otherwise), checked against a few computed afresh before use."""
    if not any(hasattr(m, "probabilities") for m in MODELS):
        return _compute_bodies(entity_ids)
    probe = _compute_bodies(entity_ids[:CACHE_PROBE])
    digest = hashlib.sha256(repr(entity_ids).encode() + b"\n".join(probe)).hexdigest()[:32]
    path = CACHE_DIR / f"{digest}.bodies"
    if path.exists():
        cached = path.read_bytes().split(b"\n")
        if len(cached) == len(entity_ids) and cached[: len(probe)] == probe:
            return cached
    bodies = _compute_bodies(entity_ids)
    _store(path, bodies)
    return bodies


def _store(path: Path, bodies: list[bytes]) -> None:
    """Write atomically (steps may start together); keep only the newest ``CACHE_FILES`` files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(b"\n".join(bodies))  # a body is one line of JSON: it holds no newline
    partial.replace(path)
    for old in sorted(path.parent.glob("*.bodies"), key=lambda p: p.stat().st_mtime)[:-CACHE_FILES]:
        old.unlink(missing_ok=True)


def _compute_bodies(entity_ids: list[str]) -> list[bytes]:
    """Every model run over all the entities at once (the ONNX MLP costs far less per row in batches; its answer
    does not depend on its batch, tests/unit/test_model_kinds.py)."""
    features = [expected_features(e) for e in entity_ids]
    columns = [_predictions(model, _predict_all(model, features)) for model in MODELS]
    return [combine(e, [(m.name, c[i]) for m, c in zip(MODELS, columns, strict=True)]).model_dump_json().encode()
            for i, e in enumerate(entity_ids)]  # fmt: skip


def _predict_all(model: Any, rows: list[tuple[float, ...]]) -> list[float]:
    if hasattr(model, "probabilities"):  # the ONNX MLP: whole batches
        return [p for i in range(0, len(rows), CHUNK) for p in model.probabilities(rows[i : i + CHUNK])]
    return [model.predict(row) for row in rows]


def degraded_bodies(entity_id: str) -> tuple[bytes, ...]:
    """The exact bytes of each degraded answer (one model left out) a scoring service may give for an entity."""
    features = expected_features(entity_id)
    outcomes = [(m.name, _predictions(m, _predict_all(m, [features]))[0]) for m in MODELS]
    return tuple(combine(entity_id, [o if o[0] != left_out else (left_out, _missing(left_out)) for o in outcomes])
                 .model_dump_json().encode() for left_out in ("model_a", "model_b"))  # fmt: skip


def _missing(model: str) -> ApiError:
    return unavailable("model_unavailable", f"model {model!r} unavailable", [model])


@cache
def expected_score(entity_id: str) -> float:
    """The score a scoring service must answer for a seeded entity (memoised: the load generator asks often)."""
    return expected_answer(entity_id, expected_features(entity_id)).score
