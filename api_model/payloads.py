"""Request and response bodies of the model service, shared by both stacks."""

from __future__ import annotations

from typing import Any

from api_model.model import Model
from feature_store.vector import Vector, vector_from_request
from service_runtime.core import jsonio
from service_runtime.core.errors import invalid_input


def parse_predict_body(raw: bytes) -> Vector:
    """Accept a bare list of features (the original study's body) or ``{"features": [...]}``."""
    body = jsonio.loads(raw)
    if isinstance(body, dict):
        if set(body) != {"features"}:
            raise invalid_input('body must be a list of features or {"features": [...]}')
        return vector_from_request(body["features"])
    if isinstance(body, list):
        return vector_from_request(body)
    raise invalid_input('body must be a list of features or {"features": [...]}')


def prediction_body(model: Model, prediction: float) -> dict[str, Any]:
    """The model's answer: its identity and the prediction, also as the original's ``detail``."""
    return {"model": model.name, "version": model.version, "prediction": prediction, "detail": prediction}
