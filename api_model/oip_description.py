"""The Open Inference Protocol routes of a model service in its OpenAPI document.

The request schema says what the routes take in JSON; Triton's binary tensor data extension (a body of JSON then
raw bytes, ``Inference-Header-Content-Length``) cannot be said in a schema and is in the operation's description.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api_model.oip import INPUT, OUTPUT
from feature_store.schema import MAX_ABS_FEATURE
from service_runtime.core.openapi import ERROR_RESPONSES, Operation
from service_runtime.core.topology import (
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    OIP_SERVER_PATH,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
)

_TAGS = ("open inference protocol",)
_NUMBER = {"type": "number", "minimum": -MAX_ABS_FEATURE, "maximum": MAX_ABS_FEATURE}
_FLAG = {"type": "boolean"}
_TENSOR = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "enum": [INPUT.name]},
        "datatype": {"type": "string", "enum": [INPUT.datatype]},
        "shape": {"type": "array", "prefixItems": [{"type": "integer", "minimum": 1},
                                                   {"type": "integer", "enum": [INPUT.width]}],
                  "items": False, "minItems": 2, "maxItems": 2},
        "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer", "minimum": 0}}},
        "data": {"type": "array", "items": {"oneOf": [
            _NUMBER, {"type": "array", "items": _NUMBER, "minItems": INPUT.width, "maxItems": INPUT.width},
        ]}, "description": "rows x 4 numbers, flat in row-major order or one list per row"},
    },
    "required": ["name", "datatype", "shape"],
    "additionalProperties": False,
}  # fmt: skip
INFER_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object", "properties": {"binary_data_output": _FLAG}},
        "inputs": {"type": "array", "items": _TENSOR, "minItems": 1, "maxItems": 1},
        "outputs": {"type": "array", "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "enum": [OUTPUT.name]},
                           "parameters": {"type": "object", "properties": {"binary_data": _FLAG}}},
            "required": ["name"], "additionalProperties": False,
        }},
    },
    "required": ["inputs"],
    "additionalProperties": False,
}  # fmt: skip


class TensorMetadata(BaseModel):
    """An input or output of a model."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadataBody(BaseModel):
    """A model's metadata."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadataBody(BaseModel):
    """The server's metadata."""

    name: str
    version: str
    extensions: list[str]


class OutputTensor(BaseModel):
    """An output of an inference answer: its data in JSON, or its size in the binary part of the body."""

    name: str
    datatype: str
    shape: list[int]
    data: list[float] | None = None
    parameters: dict[str, int] | None = None


class InferResponseBody(BaseModel):
    """An inference answer: one prediction per row of the input."""

    model_name: str
    model_version: str
    id: str | None = Field(default=None, description="The request's id, when it had one.")
    outputs: list[OutputTensor]


class LiveBody(BaseModel):
    """The server is live."""

    live: bool


class ReadyBody(BaseModel):
    """The server is ready."""

    ready: bool


class ModelReadyBody(BaseModel):
    """The model is ready."""

    name: str
    ready: bool


def oip_operations(model: str) -> list[Operation]:
    """The protocol's routes for the one model this service serves."""
    not_ready = {503: "Draining"}
    return [
        Operation("get", OIP_SERVER_PATH, "Server metadata", "oip_server_metadata", response=ServerMetadataBody,
                  tags=_TAGS),
        Operation("get", OIP_LIVE_PATH, "Server liveness", "oip_live", response=LiveBody, tags=_TAGS),
        Operation("get", OIP_READY_PATH, "Server readiness", "oip_ready", response=ReadyBody, errors=not_ready,
                  tags=_TAGS),
        Operation("get", oip_model_path(model), "Model metadata", "oip_model_metadata", response=ModelMetadataBody,
                  tags=_TAGS),
        Operation("get", oip_model_ready_path(model), "Model readiness", "oip_model_ready", response=ModelReadyBody,
                  errors=not_ready, tags=_TAGS),
        Operation(
            "post", oip_infer_path(model), "Inference on rows of features", "oip_infer", response=InferResponseBody,
            request=INFER_REQUEST, errors=ERROR_RESPONSES, tags=_TAGS, binary_response=True,
            description="One FP64 input `features` of shape [rows, 4]; one FP64 output `prediction` of shape "
            "[rows, 1], the same numbers as the predict route's, row by row. Triton's binary tensor data extension "
            "is accepted: with `Inference-Header-Content-Length: N`, the body is N bytes of JSON followed by the "
            "input's data as little-endian FP64 (its size in the input's `binary_data_size` parameter); an answer "
            "asked for in binary (`binary_data_output`, or `binary_data` on the output) comes back the same way.",
        ),
    ]  # fmt: skip
