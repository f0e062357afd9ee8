"""The protocol over REST: inference request and response bodies (JSON, and Triton's binary tensor data
extension), for a model with one input and one output.

A body with an ``Inference-Header-Content-Length`` header is that many bytes of JSON followed by the binary
data of the inputs whose parameters give a ``binary_data_size``; an answer is binary when the request asks for
it (``binary_data_output``, or ``binary_data`` on the output), as tritonclient does by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

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
from service_runtime.core import jsonio
from service_runtime.core.errors import invalid_input
from service_runtime.core.openapi import BINARY_MEDIA_TYPE

HEADER_LENGTH = "Inference-Header-Content-Length"
_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_OUTPUT_KEYS = frozenset({"name", "parameters"})


@dataclass(frozen=True)
class InferRequest:
    """What an inference request asks: the rows of its one input, its id, and whether the answer is binary."""

    rows: Rows
    id: str | None = None
    binary_output: bool = False


def parse_infer_request(spec_in: TensorSpec, spec_out: TensorSpec, raw: bytes,
                        header_length: str | None = None) -> InferRequest:  # fmt: skip
    """Decode an inference request body; anything this model cannot take is a 400 or 422 of the shared shape."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise invalid_input(f"{HEADER_LENGTH} must be a length within the body, got {header_length!r}")
        raw, binary = raw[: int(header_length)], raw[int(header_length) :]
    body = jsonio.loads(raw)
    if not isinstance(body, dict) or not set(body) <= _REQUEST_KEYS or "inputs" not in body:
        raise invalid_input(f"an inference request is an object with inputs, and only {sorted(_REQUEST_KEYS)}")
    request_id, parameters = body.get("id"), _parameters(body, "request")
    if request_id is not None and not isinstance(request_id, str):
        raise invalid_input("id must be a string", field="id")
    inputs = body["inputs"]
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise invalid_input(f"inputs must hold exactly one tensor, {spec_in.name!r}", field="inputs")
    rows = _input_rows(spec_in, inputs[0], binary)
    return InferRequest(rows, request_id, _binary_output(spec_out, body.get("outputs"), parameters))


def _input_rows(spec: TensorSpec, tensor: dict[str, Any], binary: bytes) -> Rows:
    if not set(tensor) <= _TENSOR_KEYS:
        raise invalid_input(f"an input tensor has only {sorted(_TENSOR_KEYS)}", field="inputs")
    rows = check_header(spec, tensor.get("name"), tensor.get("datatype"), tensor.get("shape"))
    size = _parameters(tensor, "input").get(BINARY_DATA_SIZE)
    if size is None:
        if binary:
            raise invalid_input("binary data follows the JSON but no input has a binary_data_size", field="inputs")
        return rows_from_json(spec, rows, tensor.get("data"))
    if "data" in tensor or isinstance(size, bool) or not isinstance(size, int) or size != len(binary):
        raise invalid_input(f"input {spec.name!r}: binary_data_size must be the length of the binary data "
                            f"({len(binary)} bytes), and no data given in JSON", field="inputs")  # fmt: skip
    return rows_from_fp64_bytes(spec, rows, binary)


def _binary_output(spec: TensorSpec, outputs: object, parameters: dict[str, Any]) -> bool:
    # Each output is binary if it says so, else if the request says so for all (tritonclient's default).
    binary = _flag(parameters, "binary_data_output", False)
    if outputs is None:
        return binary
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and set(o) <= _OUTPUT_KEYS for o in outputs):
        raise invalid_input("outputs must be a list of {name, parameters}", field="outputs")
    check_outputs(spec, [o.get("name") for o in outputs])
    if not outputs:
        return binary
    return any(_flag(_parameters(o, "output"), "binary_data", binary) for o in outputs)


def _flag(parameters: dict[str, Any], name: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise invalid_input(f"parameter {name} must be true or false", field="parameters")
    return value


def _parameters(obj: dict[str, Any], what: str) -> dict[str, Any]:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise invalid_input(f"the {what}'s parameters must be an object", field="parameters")
    return parameters


def infer_response(spec: TensorSpec, model: str, version: str, request: InferRequest,
                   values: Sequence[float]) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """The body of an inference answer (one value per row of the request) and the headers it needs."""
    output: dict[str, Any] = {"name": spec.name, "datatype": spec.datatype, "shape": [len(values), 1]}
    body: dict[str, Any] = {"model_name": model, "model_version": version}
    if request.id is not None:
        body["id"] = request.id
    body["outputs"] = [output]
    if not request.binary_output:
        output["data"] = list(values)
        return jsonio.dumps(body), {"Content-Type": jsonio.JSON_MEDIA_TYPE}
    data = fp64_bytes(values)
    output["parameters"] = {BINARY_DATA_SIZE: len(data)}
    header = jsonio.dumps(body)
    return header + data, {"Content-Type": BINARY_MEDIA_TYPE, HEADER_LENGTH: str(len(header))}


def one_row_request(spec: TensorSpec, row: Sequence[float]) -> bytes:
    """A client's inference request of one row, in plain JSON (what every server of the protocol reads)."""
    return b'{"inputs":[{"name":"%s","shape":[1,%d],"datatype":"%s","data":%s}]}' % (
        spec.name.encode(), len(row), spec.datatype.encode(), orjson.dumps(row)
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """The first value of one output of an inference answer, and the model that gave it."""

    model: str
    version: str
    value: object


def first_value(spec: TensorSpec, raw: bytes) -> Answer:
    """The first element of output ``spec.name`` of a plain JSON answer; ``ValueError`` when it has none."""
    body = orjson.loads(raw)
    for output in body["outputs"]:
        if output["name"] == spec.name:
            return Answer(str(body["model_name"]), str(body.get("model_version", "")), output["data"][0])
    raise ValueError(f"no output {spec.name!r}")
