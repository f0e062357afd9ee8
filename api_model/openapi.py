"""OpenAPI description of the model service's predict endpoint."""

from __future__ import annotations

from pydantic import BaseModel

from common.openapi import ERROR_RESPONSES, FEATURES_SCHEMA, request_body


class Prediction(BaseModel):
    """A model's answer."""

    model: str
    version: str
    prediction: float
    detail: float


PREDICT_DOC = {
    "summary": "Predict from a feature vector",
    "operation_id": "predict",
    "response_model": Prediction,
    "responses": ERROR_RESPONSES,
    "openapi_extra": request_body(
        FEATURES_SCHEMA,
        {
            "type": "object",
            "properties": {"features": FEATURES_SCHEMA},
            "required": ["features"],
            "additionalProperties": False,
        },
    ),
}
