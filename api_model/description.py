"""The model service described without a web framework: its OpenAPI document and its middleware policy."""

from __future__ import annotations

from pydantic import BaseModel

from api_model.model import Model
from api_model.oip_description import oip_operations
from api_model.settings import ModelSettings
from feature_store.schema import FEATURES_JSON_SCHEMA
from service_runtime.core.openapi import ERROR_RESPONSES, Operation, document, probe_operations, request_body
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import (
    OIP_SERVER_PATH,
    Stack,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
    predict_path,
)
from service_runtime.web.service import Service, service_policy


class Prediction(BaseModel):
    """A model's answer."""

    model: str
    version: str
    prediction: float
    detail: float


def predict_operation(stack: Stack) -> Operation:
    """The predict route: a bare list of features (the original study's body) or ``{"features": [...]}``."""
    features_object = {
        "type": "object",
        "properties": {"features": FEATURES_JSON_SCHEMA},
        "required": ["features"],
        "additionalProperties": False,
    }
    return Operation(
        "post", predict_path(stack), "Predict from a feature vector", "predict", response=Prediction,
        request=request_body(FEATURES_JSON_SCHEMA, features_object), errors=ERROR_RESPONSES,
    )  # fmt: skip


def describe(model: Model, settings: ModelSettings, server: ServerSettings, stack: Stack) -> Service:
    """The service that serves ``model`` on ``stack``: the same document on both stacks but for the predict path."""
    operations = [*probe_operations(), predict_operation(stack), *oip_operations(model.name)]
    return Service(
        name=settings.name,
        stack=stack,
        policy=service_policy(
            server,
            stack,
            deadline_s=settings.deadline_s(),
            routes=oip_paths(model.name),
            timed=(oip_infer_path(model.name),),
        ),
        openapi=document(f"{model.name} ({stack})", model.version, operations),
    )


def oip_paths(model: str) -> tuple[str, ...]:
    """The protocol's routes that metrics name (the health routes are probes, left unmeasured)."""
    return (OIP_SERVER_PATH, oip_model_path(model), oip_model_ready_path(model), oip_infer_path(model))
