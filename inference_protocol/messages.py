"""The protocol over gRPC: inference requests and responses as the generated messages, both ways, for a model
with one input and one output.

A request's input may carry its data as raw little-endian bytes (``raw_input_contents``, as tritonclient sends)
or typed (``contents.fp64_contents``); answers carry theirs raw (``raw_output_contents``), as Triton answers and
tritonclient reads.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from inference_protocol import inference_pb2 as pb
from inference_protocol.rest import Answer
from inference_protocol.tensors import (
    FP64_BYTES,
    Rows,
    TensorSpec,
    check_header,
    check_outputs,
    fp64_bytes,
    rows_from_fp64_bytes,
    rows_from_values,
)
from reference.core import invalid_input

# The caller's request id travels in each call's metadata under this key (gRPC's keys are lower case), and comes back
# in its trailing metadata, as the HTTP services' X-Request-ID header does.
REQUEST_ID_KEY = "x-request-id"


def request_rows(spec: TensorSpec, request: pb.ModelInferRequest) -> Rows:
    """The rows of the one input of ``request``; anything this model cannot take is a 4xx (``INVALID_ARGUMENT``)."""
    if len(request.inputs) != 1:
        raise invalid_input(f"inputs must hold exactly one tensor, {spec.name!r}", field="inputs")
    check_outputs(spec, [o.name for o in request.outputs])
    tensor = request.inputs[0]
    rows = check_header(spec, tensor.name, tensor.datatype, tensor.shape)
    typed = tensor.HasField("contents")
    if request.raw_input_contents:
        if typed or len(request.raw_input_contents) != 1:
            raise invalid_input("raw_input_contents must hold the one input's data, and contents nothing",
                                field="inputs")  # fmt: skip
        return rows_from_fp64_bytes(spec, rows, request.raw_input_contents[0])
    return rows_from_values(spec, rows, tensor.contents.fp64_contents)


def infer_response(spec: TensorSpec, model: str, version: str, request_id: str,
                   values: Sequence[float]) -> pb.ModelInferResponse:  # fmt: skip
    """The answer to an inference request: one value per row, raw."""
    output = pb.ModelInferResponse.InferOutputTensor(name=spec.name, datatype=spec.datatype, shape=[len(values), 1])
    return pb.ModelInferResponse(model_name=model, model_version=version, id=request_id, outputs=[output],
                                 raw_output_contents=[fp64_bytes(values)])  # fmt: skip


def one_row_request(spec: TensorSpec, model: str, row: Sequence[float]) -> pb.ModelInferRequest:
    """A client's inference request of one row, its data raw (as tritonclient sends it)."""
    tensor = pb.ModelInferRequest.InferInputTensor(name=spec.name, datatype=spec.datatype, shape=[1, len(row)])
    return pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[fp64_bytes(row)])


def first_value(spec: TensorSpec, response: pb.ModelInferResponse) -> Answer:
    """The first element of output ``spec.name``, raw or typed; ``ValueError`` when it has none."""
    for index, output in enumerate(response.outputs):
        if output.name != spec.name:
            continue
        if output.datatype != spec.datatype:
            raise ValueError(f"output {spec.name!r} is {output.datatype}, not {spec.datatype}")
        if index < len(response.raw_output_contents):
            raw = response.raw_output_contents[index]
            if len(raw) < FP64_BYTES:
                raise ValueError(f"output {spec.name!r} is empty")
            value = struct.unpack_from("<d", raw)[0]
        elif output.contents.fp64_contents:
            value = output.contents.fp64_contents[0]
        else:
            raise ValueError(f"output {spec.name!r} is empty")
        return Answer(response.model_name, response.model_version, value)
    raise ValueError(f"no output {spec.name!r}")
