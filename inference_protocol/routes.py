"""What the protocol's REST routes of both stacks share: their answers' models, their documentation, and each
route's work without its framework, so that both stacks answer every request with the same bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT, vectors
from inference_protocol.metadata import ModelMetadata
from inference_protocol.rest import (
    BINARY_MEDIA_TYPE,
    HEADER_LENGTH,
    JSON_MEDIA_TYPE,
    InferRequest,
    InferRequestBody,
    infer_response,
    parse_infer_request,
)
from reference.api import COMMON_ERRORS
from reference.core import Vector

TAGS = ["open inference protocol"]
# The answers of a versioned route besides its own (FastAPI would document a 422 of its own shape otherwise).
VERSION_ERRORS = {404: "The model serves another version", 422: COMMON_ERRORS[422], 503: COMMON_ERRORS[503]}
# Any body is read (JSON, or JSON then binary data), so a content type is never refused.
INFER_ERRORS = {status: text for status, text in COMMON_ERRORS.items() if status != 415}
INFER_DESCRIPTION = (
    f"One FP64 input `{FEATURES_INPUT.name}` of shape [rows, {FEATURES_INPUT.width}]; one FP64 output "
    f"`{PREDICTION_OUTPUT.name}` of shape [rows, 1], row by row the predict route's numbers. Triton's binary tensor "
    f"data extension is accepted: with `{HEADER_LENGTH}: N`, the body is N bytes of JSON followed by the input's "
    "data as little-endian FP64 (its size in the input's `binary_data_size` parameter); an answer asked for in "
    "binary (`binary_data_output`, or `binary_data` on the output) comes back the same way."
)


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


def infer_request_doc() -> dict[str, Any]:
    """The inference route's request body in its OpenAPI document: the JSON schema, or JSON then binary data."""
    schema = _inlined(InferRequestBody.model_json_schema())
    binary = {"type": "string", "format": "binary"}
    return {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": schema}, BINARY_MEDIA_TYPE: {"schema": binary}}}


def parse(raw: bytes, header_length: str | None) -> tuple[InferRequest, list[Vector]]:
    """An inference request's body (JSON, or Triton's binary extension) and its rows as feature vectors."""
    request = parse_infer_request(FEATURES_INPUT, PREDICTION_OUTPUT, raw, header_length)
    return request, vectors(request.rows)


def answer(
    metadata: ModelMetadata, request: InferRequest, predictions: Sequence[float]
) -> tuple[bytes, dict[str, str]]:
    """The answer's body and headers: one prediction per row, in JSON or binary as asked."""
    return infer_response(PREDICTION_OUTPUT, metadata.name, metadata.version, request, predictions)


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` written in place: a schema inside an OpenAPI document cannot refer to its own."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(item) for item in node] if isinstance(node, list) else node

    return resolve(schema)
