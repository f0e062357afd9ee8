"""What the protocol's REST routes of both stacks share: their answers' models, their documentation, and each
route's work without its framework, so that both stacks answer every request with the same bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from inference_protocol.features import FEATURES_INPUT, PREDICTION_OUTPUT, vectors
from inference_protocol.metadata import ModelMetadata
from inference_protocol.rest import (
    HEADER_LENGTH,
    JSON_MEDIA_TYPE,
    InferRequest,
    InferRequestBody,
    infer_response,
    parse_infer_request,
)
from reference.api import COMMON_ERRORS
from reference.core import MAX_ABS_FEATURE, Vector

TAGS = ["open inference protocol"]
# The inference routes' operation ids, the same on both stacks: tests/integration/test_fuzz.py fuzzes these two on
# their own (see infer_request_doc).
INFER_OPERATION_ID = "oip_infer"
VERSION_INFER_OPERATION_ID = "oip_version_infer"
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
    """The inference route's request body in its OpenAPI document: the JSON body this model takes, as precisely as
    JSON Schema can say it.

    Only ``application/json`` is documented. Any body is read whatever its Content-Type (tritonclient sends none),
    but a body is always parsed as JSON: an ``application/octet-stream`` body of arbitrary bytes, which the document
    once offered, is refused as invalid JSON (400). Triton's binary tensor data extension (the JSON then raw bytes,
    with ``Inference-Header-Content-Length``) is a layout of that JSON body, not a media type of its own: it is in
    the operation's description, and its JSON part is the schema below (``binary_data_size``, no ``data``).

    Beyond the types the request models check, the schema names the one input and output this model has, its
    datatype, a shape of [rows >= 1, width], numbers within the features' bounds, rows exactly ``width`` wide, and
    the data either in the JSON or after it. What no JSON Schema can say: that ``data`` holds as many numbers as the
    shape declares (rows x width), and that ``binary_data_size`` bytes of it follow the JSON (a body without the
    header has none). A schema-valid body that breaks either is rightly refused with 422 (documented), which is why
    schemathesis' positive-data check is left off for these two operations, every other check kept
    (tests/integration/test_fuzz.py).
    """
    schema = _inlined(InferRequestBody.model_json_schema())
    spec, width = FEATURES_INPUT, FEATURES_INPUT.width
    tensor = schema["properties"]["inputs"]["items"]["properties"]
    tensor["name"]["enum"] = [spec.name]
    tensor["datatype"]["enum"] = [spec.datatype]
    rows, columns = {"type": "integer", "minimum": 1}, {"type": "integer", "enum": [width]}
    tensor["shape"] |= {"prefixItems": [rows, columns], "minItems": 2, "maxItems": 2,
                        "description": f"[rows, {width}]"}  # fmt: skip
    number = {"type": "number", "minimum": -MAX_ABS_FEATURE, "maximum": MAX_ABS_FEATURE}
    row = {"type": "array", "items": number, "minItems": width, "maxItems": width}
    flat, nested = tensor["data"]["anyOf"][:2]  # the third: null
    flat |= {"items": number, "minItems": width}
    nested |= {"items": row, "minItems": 1}
    tensor["data"]["description"] = (
        f"rows x {width} numbers, flat in row-major order or one list of {width} per row; left out when the data "
        "follows the JSON (binary_data_size)"
    )
    # The data is in the JSON or after it, never both nor neither (rest._input_rows).
    no_size = {"properties": {"binary_data_size": {"type": "null"}}}
    size = {"required": ["binary_data_size"], "properties": {"binary_data_size": {"type": "integer"}}}
    in_json = {"required": ["data"], "properties": {"data": {"type": "array"}, "parameters": no_size}}
    after_json = {"required": ["parameters"], "properties": {"data": {"type": "null"}, "parameters": size}}
    schema["properties"]["inputs"]["items"]["oneOf"] = [in_json, after_json]
    output = schema["properties"]["outputs"]["anyOf"][0]["items"]["properties"]
    output["name"]["enum"] = [PREDICTION_OUTPUT.name]
    return {"required": True, "content": {JSON_MEDIA_TYPE: {"schema": schema}}}


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
