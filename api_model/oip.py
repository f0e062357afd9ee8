"""The Open Inference Protocol as the model service speaks it: its tensors, metadata and routes' answers."""

from __future__ import annotations

from typing import Any

from api_model.model import Model
from feature_store.vector import Vector, vector_from_request
from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT
from inference_protocol.metadata import ModelMetadata
from inference_protocol.rest import InferRequest, infer_response, parse_infer_request
from inference_protocol.tensors import Rows, model_not_found
from service_runtime.core.lifecycle import is_draining
from service_runtime.web.service import readiness_answer

INPUT = FEATURES_INPUT
OUTPUT = PREDICTION_OUTPUT
PLATFORM = "python_logistic_regression"


def model_metadata(model: Model) -> ModelMetadata:
    """The model as the protocol describes it: one FP64 input of rows of features, one FP64 output per row."""
    return ModelMetadata(name=model.name, version=model.version, platform=PLATFORM, input=INPUT, output=OUTPUT)


def check_served(metadata: ModelMetadata, name: str, version: str = "") -> None:
    """Refuse (404, ``NOT_FOUND``) a model or version this service does not serve."""
    if not metadata.serves(name, version):
        raise model_not_found(name, version)


def vectors(rows: Rows) -> list[Vector]:
    """Each row as a feature vector, under the same policy as the JSON route (finite, within range)."""
    return [vector_from_request(row, field=INPUT.name) for row in rows]


def live_body() -> dict[str, Any]:
    """``GET /v2/health/live``."""
    return {"live": True}


def ready_body() -> dict[str, Any]:
    """``GET /v2/health/ready`` of a ready server."""
    return {"ready": True}


def model_ready_body(name: str) -> dict[str, Any]:
    """``GET /v2/models/{name}/ready`` of a ready model."""
    return {"name": name, "ready": True}


def when_ready(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``body`` with 200, or the shared 503 ``draining`` once the worker is shutting down."""
    return readiness_answer({}) if is_draining() else (200, body)


def parse_rest_infer(raw: bytes, header_length: str | None) -> tuple[InferRequest, list[Vector]]:
    """An inference request's body (JSON, or Triton's binary extension) and its rows as vectors."""
    request = parse_infer_request(INPUT, OUTPUT, raw, header_length)
    return request, vectors(request.rows)


def rest_infer_answer(metadata: ModelMetadata, request: InferRequest,
                      predictions: list[float]) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """The answer's body and headers: one prediction per row, in JSON or binary as asked."""
    return infer_response(OUTPUT, metadata.name, metadata.version, request, predictions)
