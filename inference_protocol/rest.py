"""The protocol over REST: inference request and answer bodies (JSON, and Triton's binary tensor data extension)
as pydantic models, for a model with one input and one output.

A body with an ``Inference-Header-Content-Length`` header is that many bytes of JSON followed by the binary data
of the inputs whose parameters give a ``binary_data_size``; an answer is binary when the request asks for it
(``binary_data_output``, or ``binary_data`` on the output), as tritonclient does by default. The JSON part is
validated by the models below on both stacks alike, so that both answer every body with the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from inference_protocol.tensors import (
    BINARY_DATA_SIZE,
    Rows,
    TensorSpec,
    check_header,
    check_outputs,
    fp64_bytes,
    rows_from_fp64_bytes,
    rows_from_json,
)
from reference.api import request_error
from reference.core import invalid_input

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_MEDIA_TYPE = "application/json"
BINARY_MEDIA_TYPE = "application/octet-stream"
# An answer asked for in binary, in the inference routes' documents: its JSON part then the raw FP64 bytes.
BINARY_ANSWER = {BINARY_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}
# A JSON number (integer or not), never a string or a boolean; non-finite values pass here and are refused by the
# features' rule (features.vectors), with the same message whichever transport carried them.
Number = Annotated[float, Field(strict=True)]


def _without_null_defaults(schema: dict[str, Any]) -> None:
    # FastAPI's document leaves out every null, a null default included, where Flask's keeps it: the schemas say
    # "optional" without it, the same on both stacks.
    for field in schema.get("properties", {}).values():
        if "default" in field and field["default"] is None:
            del field["default"]


class Body(BaseModel):
    """A part of the protocol's REST bodies."""

    model_config = ConfigDict(json_schema_extra=_without_null_defaults)


class InputParameters(Body):
    """An input's parameters: its size in the binary part of the body, if it is there; others are ignored."""

    model_config = ConfigDict(extra="allow")

    binary_data_size: StrictInt | None = Field(None, ge=0, description="Bytes of this input after the JSON.")


class InputTensor(Body):
    """An input tensor: its data in JSON (flat in row-major order, or one list per row), or in the binary part."""

    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[StrictInt]
    datatype: str
    parameters: InputParameters = Field(default_factory=InputParameters)
    data: list[Number] | list[list[Number]] | None = None


class RequestParameters(Body):
    """The request's parameters: whether every output comes back binary; others are ignored."""

    model_config = ConfigDict(extra="allow")

    binary_data_output: StrictBool = False


class OutputParameters(Body):
    """A requested output's parameters: whether it comes back binary; others are ignored."""

    model_config = ConfigDict(extra="allow")

    binary_data: StrictBool | None = None


class RequestedOutput(Body):
    """An output the request asks for."""

    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: OutputParameters = Field(default_factory=OutputParameters)


class InferRequestBody(Body):
    """An inference request (its JSON part)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    parameters: RequestParameters = Field(default_factory=RequestParameters)
    inputs: list[InputTensor] = Field(min_length=1, max_length=1)
    outputs: list[RequestedOutput] | None = None


class OutputTensor(Body):
    """An output of an inference answer: its data in JSON, or its size in the binary part of the body."""

    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, int] | None = None
    data: list[Number] | None = None


class InferResponseBody(Body):
    """An inference answer (its JSON part): one prediction per row of the input."""

    # flask-openapi3 documents an answer's other media types from its model's config (FastAPI from the route's
    # responses): the binary answer, besides this JSON.
    model_config = ConfigDict(openapi_extra={"content": BINARY_ANSWER})

    model_name: str
    model_version: str
    id: str | None = Field(None, description="The request's id, when it had one.")
    outputs: list[OutputTensor]


@dataclass(frozen=True)
class InferRequest:
    """What an inference request asks: the rows of its one input, its id, and whether the answer is binary."""

    rows: Rows
    id: str | None = None
    binary_output: bool = False


def parse_infer_request(spec_in: TensorSpec, spec_out: TensorSpec, raw: bytes,
                        header_length: str | None = None) -> InferRequest:  # fmt: skip
    """Decode an inference request body; anything this model cannot take is a 400 or 422 of the one shape."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise invalid_input(f"{HEADER_LENGTH} must be a length within the body, got {header_length!r}")
        raw, binary = raw[: int(header_length)], raw[int(header_length) :]
    try:
        body = InferRequestBody.model_validate_json(raw)
    except ValidationError as exc:
        raise request_error(exc.errors()) from None
    rows = _input_rows(spec_in, body.inputs[0], binary)
    return InferRequest(rows, body.id, _binary_output(spec_out, body))


def _input_rows(spec: TensorSpec, tensor: InputTensor, binary: bytes) -> Rows:
    rows = check_header(spec, tensor.name, tensor.datatype, tensor.shape)
    size = tensor.parameters.binary_data_size
    if size is None:
        if binary:
            raise invalid_input("binary data follows the JSON but no input has a binary_data_size", field="inputs")
        return rows_from_json(spec, rows, tensor.data)
    if tensor.data is not None or size != len(binary):
        raise invalid_input(f"input {spec.name!r}: binary_data_size must be the length of the binary data "
                            f"({len(binary)} bytes), and no data given in JSON", field="inputs")  # fmt: skip
    return rows_from_fp64_bytes(spec, rows, binary)


def _binary_output(spec: TensorSpec, body: InferRequestBody) -> bool:
    # Each output is binary if it says so, else if the request says so for all (tritonclient's default).
    binary = body.parameters.binary_data_output
    if not body.outputs:
        return binary
    check_outputs(spec, [output.name for output in body.outputs])
    return any(binary if o.parameters.binary_data is None else o.parameters.binary_data for o in body.outputs)


def infer_response(spec: TensorSpec, model: str, version: str, request: InferRequest,
                   values: Sequence[float]) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """The body of an inference answer (one value per row of the request) and the headers it needs."""
    shape = [len(values), 1]
    if not request.binary_output:
        output = OutputTensor(name=spec.name, datatype=spec.datatype, shape=shape, data=list(values))
        return _json(model, version, request, output), {"Content-Type": JSON_MEDIA_TYPE}
    data = fp64_bytes(values)
    output = OutputTensor(name=spec.name, datatype=spec.datatype, shape=shape, parameters={BINARY_DATA_SIZE: len(data)})
    header = _json(model, version, request, output)
    return header + data, {"Content-Type": BINARY_MEDIA_TYPE, HEADER_LENGTH: str(len(header))}


def _json(model: str, version: str, request: InferRequest, output: OutputTensor) -> bytes:
    body = InferResponseBody(model_name=model, model_version=version, id=request.id, outputs=[output])
    return body.model_dump_json(exclude_none=True).encode()


def one_row_request(spec: TensorSpec, row: Sequence[float]) -> bytes:
    """A client's inference request of one row, in plain JSON (what every server of the protocol reads)."""
    return b'{"inputs":[{"name":"%s","shape":[1,%d],"datatype":"%s","data":%s}]}' % (
        spec.name.encode(), len(row), spec.datatype.encode(), orjson.dumps(list(row))
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """The first value of one output of an inference answer, and the model that gave it."""

    model: str
    version: str
    value: float


def first_value(spec: TensorSpec, raw: bytes) -> Answer:
    """The first element of output ``spec.name`` of a plain JSON answer; ``ValueError`` when it has none."""
    body = InferResponseBody.model_validate_json(raw)  # a ValidationError is a ValueError
    for output in body.outputs:
        if output.name == spec.name:
            if not output.data:
                raise ValueError(f"output {spec.name!r} has no data")
            return Answer(body.model_name, body.model_version, output.data[0])
    raise ValueError(f"no output {spec.name!r}")
