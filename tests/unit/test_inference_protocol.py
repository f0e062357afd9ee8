"""The Open Inference Protocol's pure pieces: the stubs, tensors both ways, errors as gRPC codes."""

from __future__ import annotations

import struct

import grpc
import orjson
import pytest
from google.protobuf.descriptor import Descriptor
from tritonclient.grpc import service_pb2 as triton_pb

from api_model.oip import INPUT, OUTPUT, vectors
from api_scoring.payloads import oip_request_body, parse_oip_answer, parse_oip_message
from inference_protocol import codegen
from inference_protocol import inference_pb2 as pb
from inference_protocol.messages import first_value, infer_response, one_row_request, request_rows
from inference_protocol.rest import HEADER_LENGTH, InferRequest, parse_infer_request
from inference_protocol.rest import infer_response as rest_response
from inference_protocol.tensors import fp64_bytes
from service_runtime.core.deadline import deadline_exceeded
from service_runtime.core.errors import ApiError, bad_request, body_too_large, invalid_input, model_unavailable
from service_runtime.rpc.status import grpc_code
from service_runtime.web.service import overloaded

ROWS = [[5.1, 3.5, 1.4, 0.2], [0.1, 1 / 3, -0.0, 1e-300], [1e6, -1e6, 5e-324, 2.5]]


# -- the stubs ------------------------------------------------------------------------------------------------------
def test_the_committed_stubs_are_what_protoc_writes_from_the_proto():
    assert codegen.stale() == [], "run: python -m inference_protocol.codegen"


def test_the_stubs_are_stale_when_the_proto_changes(tmp_path):
    for name, text in codegen.fresh().items():
        (tmp_path / name).write_text(text)
    assert codegen.stale(tmp_path) == []
    (tmp_path / "inference_pb2.py").write_text("# edited\n")
    assert codegen.stale(tmp_path) == ["inference_pb2.py"]


def _shape(message: Descriptor) -> dict:
    """A message as the wire sees it: every field's number, type and cardinality, and its nested messages."""
    fields = {f.name: (f.number, f.type, f.is_repeated, f.message_type and f.message_type.name) for f in message.fields}
    return {"fields": fields, "nested": {n.name: _shape(n) for n in message.nested_types}}


@pytest.mark.parametrize("name", sorted(pb.DESCRIPTOR.message_types_by_name))
def test_every_message_is_wire_compatible_with_tritons(name):
    ours = pb.DESCRIPTOR.message_types_by_name[name]
    theirs = triton_pb.DESCRIPTOR.message_types_by_name[name]
    assert (ours.full_name, _shape(ours)) == (theirs.full_name, _shape(theirs))


def test_the_service_is_tritons_with_the_protocols_six_rpcs():
    ours = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = triton_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    methods = {m.name: (m.input_type.full_name, m.output_type.full_name) for m in ours.methods}
    assert set(methods) == {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"}
    for name, types in methods.items():
        method = theirs.methods_by_name[name]
        assert types == (method.input_type.full_name, method.output_type.full_name)


def test_a_request_we_encode_is_what_triton_decodes_and_back():
    ours = one_row_request(INPUT, "model_a", ROWS[0])
    theirs = triton_pb.ModelInferRequest.FromString(ours.SerializeToString())
    assert (theirs.model_name, theirs.inputs[0].name, list(theirs.inputs[0].shape)) == ("model_a", "features", [1, 4])
    assert pb.ModelInferRequest.FromString(theirs.SerializeToString()) == ours


# -- REST: requests ---------------------------------------------------------------------------------------------------
def body(**tensor) -> bytes:
    return orjson.dumps({"inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP64", **tensor}]})


def test_json_data_flat_or_one_list_per_row():
    flat = parse_infer_request(INPUT, OUTPUT, body(data=[v for row in ROWS for v in row]))
    nested = parse_infer_request(INPUT, OUTPUT, body(data=ROWS))
    assert flat.rows == nested.rows == ROWS
    assert not flat.binary_output


def test_binary_data_after_the_json_header():
    data = fp64_bytes([v for row in ROWS for v in row])
    header = body(parameters={"binary_data_size": len(data)})
    parsed = parse_infer_request(INPUT, OUTPUT, header + data, str(len(header)))
    assert struct.pack("<12d", *(v for row in parsed.rows for v in row)) == data


@pytest.mark.parametrize(
    ("raw", "header_length"),
    [
        (body(name="x", data=ROWS), None),  # unknown input
        (body(datatype="FP32", data=ROWS), None),
        (body(shape=[3, 3], data=ROWS), None),
        (body(shape=[0, 4], data=[]), None),
        (body(shape=[12], data=ROWS), None),
        (body(shape=[3, True], data=ROWS), None),
        (body(data=ROWS[:2]), None),  # fewer rows than declared
        (body(data="1,2,3"), None),
        (body(), None),  # no data at all
        (body(data=ROWS, extra=1), None),
        (orjson.dumps({"inputs": []}), None),
        (orjson.dumps({"inputs": [{}], "debug": 1}), None),
        (orjson.dumps({"id": 5, "inputs": [{}]}), None),
        (orjson.dumps([1, 2, 3, 4]), None),
        (body(data=ROWS) + b"xx", "nan"),  # a header length that is no length
        (body(data=ROWS), "99999"),
        (body(data=ROWS) + b"x" * 8, None),  # binary data nobody claims, read as JSON: not JSON
        (body(data=ROWS) + b"x" * 8, str(len(body(data=ROWS)))),
        (body(parameters={"binary_data_size": 8}) + b"x" * 8, str(len(body(parameters={"binary_data_size": 8})))),
    ],
)
def test_bad_requests_are_4xx(raw, header_length):
    with pytest.raises(ApiError) as failure:
        parse_infer_request(INPUT, OUTPUT, raw, header_length)
    assert failure.value.status in (400, 422)


@pytest.mark.parametrize(
    "extra",
    [
        {"outputs": [{"name": "probability"}]},
        {"outputs": [{"name": "prediction", "junk": 1}]},
        {"outputs": "prediction"},
        {"parameters": {"binary_data_output": "yes"}},
        {"outputs": [{"name": "prediction", "parameters": {"binary_data": 1}}]},
        {"parameters": []},
    ],
)
def test_bad_outputs_and_parameters_are_422(extra):
    raw = orjson.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]} | extra)
    with pytest.raises(ApiError) as failure:
        parse_infer_request(INPUT, OUTPUT, raw)
    assert failure.value.status == 422


@pytest.mark.parametrize(
    ("extra", "binary"),
    [
        ({}, False),
        ({"parameters": {"binary_data_output": True}}, True),
        ({"parameters": {"binary_data_output": True}, "outputs": [{"name": "prediction"}]}, True),
        ({"parameters": {"binary_data_output": True},
          "outputs": [{"name": "prediction", "parameters": {"binary_data": False}}]}, False),
        ({"outputs": [{"name": "prediction", "parameters": {"binary_data": True}}]}, True),
        ({"parameters": {"custom": "kept"}}, False),
    ],
)  # fmt: skip
def test_the_answer_is_binary_when_asked(extra, binary):
    raw = orjson.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": ROWS[0]}]} | extra)
    assert parse_infer_request(INPUT, OUTPUT, raw).binary_output is binary


def test_rows_go_through_the_json_routes_policy():
    assert vectors([[1, 2, 3, 4]]) == [(1.0, 2.0, 3.0, 4.0)]
    for bad in ([float("nan"), 0, 0, 0], [1e7, 0, 0, 0], ["1", 0, 0, 0], [True, 0, 0, 0]):
        with pytest.raises(ApiError) as failure:
            vectors([bad])
        assert failure.value.status == 422


# -- REST: answers ----------------------------------------------------------------------------------------------------
PREDICTIONS = [0.4272695765469044, 1 / 3, 5e-324]


def test_a_json_answer_carries_every_prediction_exactly():
    raw, headers = rest_response(OUTPUT, "model_a", "1.0.0", InferRequest(ROWS, "req-1"), PREDICTIONS)
    answer = orjson.loads(raw)
    assert headers == {"Content-Type": "application/json"}
    output = {"name": "prediction", "datatype": "FP64", "shape": [3, 1], "data": PREDICTIONS}
    assert answer == {"model_name": "model_a", "model_version": "1.0.0", "id": "req-1", "outputs": [output]}


def test_a_binary_answer_carries_every_prediction_exactly():
    raw, headers = rest_response(OUTPUT, "model_a", "1.0.0", InferRequest(ROWS, binary_output=True), PREDICTIONS)
    size = int(headers[HEADER_LENGTH])
    header, data = orjson.loads(raw[:size]), raw[size:]
    assert headers["Content-Type"] == "application/octet-stream"
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert "data" not in header["outputs"][0]
    assert list(struct.unpack("<3d", data)) == PREDICTIONS


def test_the_scoring_clients_request_and_answer_parsing():
    request = parse_infer_request(INPUT, OUTPUT, oip_request_body(tuple(ROWS[1])))
    assert request.rows == [ROWS[1]]
    raw, _ = rest_response(OUTPUT, "model_b", "1.0.0", request, [0.25])
    prediction = parse_oip_answer("model_b", raw)
    assert (prediction.name, prediction.version, prediction.prediction) == ("model_b", "1.0.0", 0.25)


@pytest.mark.parametrize(
    "raw",
    [b"{}", b"not json", b'{"model_name": "m", "outputs": [{"name": "other", "data": [1]}]}',
     b'{"model_name": "m", "outputs": [{"name": "prediction", "data": []}]}',
     b'{"model_name": "m", "outputs": [{"name": "prediction", "data": [true]}]}',
     b'{"model_name": "m", "outputs": [{"name": "prediction", "data": ["0.5"]}]}'],
)  # fmt: skip
def test_a_malformed_answer_makes_the_model_unavailable(raw):
    with pytest.raises(ApiError) as failure:
        parse_oip_answer("model_a", raw)
    assert (failure.value.status, failure.value.code) == (503, "model_unavailable")


# -- gRPC messages ----------------------------------------------------------------------------------------------------
def grpc_request(shape=(3, 4), raw=True, **extra) -> pb.ModelInferRequest:
    flat = [v for row in ROWS for v in row]
    tensor = pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP64", shape=list(shape))
    if raw:
        return pb.ModelInferRequest(model_name="model_a", inputs=[tensor], raw_input_contents=[fp64_bytes(flat)],
                                    **extra)  # fmt: skip
    tensor.contents.fp64_contents.extend(flat)
    return pb.ModelInferRequest(model_name="model_a", inputs=[tensor], **extra)


def test_grpc_rows_raw_or_typed():
    assert request_rows(INPUT, grpc_request()) == request_rows(INPUT, grpc_request(raw=False)) == ROWS


@pytest.mark.parametrize(
    "request_",
    [
        grpc_request(shape=(2, 4)),
        grpc_request(shape=(4, 3)),
        grpc_request(raw=False, shape=(4, 4)),
        grpc_request(outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="other")]),
        pb.ModelInferRequest(model_name="model_a"),
        pb.ModelInferRequest(model_name="model_a", inputs=[grpc_request().inputs[0]] * 2),
        pb.ModelInferRequest(model_name="model_a", inputs=grpc_request(raw=False).inputs,
                             raw_input_contents=grpc_request().raw_input_contents),
    ],
)  # fmt: skip
def test_bad_grpc_requests_are_invalid_argument(request_):
    with pytest.raises(ApiError) as failure:
        request_rows(INPUT, request_)
    assert grpc_code(failure.value) == grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_answers_are_raw_and_read_back_exactly():
    response = infer_response(OUTPUT, "model_a", "1.0.0", "id-7", PREDICTIONS)
    assert list(response.outputs[0].shape) == [3, 1]
    assert list(struct.unpack("<3d", response.raw_output_contents[0])) == PREDICTIONS
    answer = first_value(OUTPUT, response)
    assert (answer.model, answer.version, answer.value) == ("model_a", "1.0.0", PREDICTIONS[0])
    tensor = pb.ModelInferResponse.InferOutputTensor(
        name="prediction", datatype="FP64", shape=[1, 1], contents=pb.InferTensorContents(fp64_contents=[0.5])
    )
    typed = pb.ModelInferResponse(model_name="m", model_version="2", outputs=[tensor])
    assert parse_oip_message("model_b", typed).prediction == 0.5


@pytest.mark.parametrize(
    "response",
    [
        pb.ModelInferResponse(),
        pb.ModelInferResponse(outputs=[pb.ModelInferResponse.InferOutputTensor(name="prediction", datatype="FP64")]),
        pb.ModelInferResponse(outputs=[pb.ModelInferResponse.InferOutputTensor(name="prediction", datatype="FP32")],
                              raw_output_contents=[b"\0" * 8]),
        pb.ModelInferResponse(outputs=[pb.ModelInferResponse.InferOutputTensor(name="prediction", datatype="FP64")],
                              raw_output_contents=[b"\0" * 4]),
        infer_response(OUTPUT, "m", "1", "", [float("nan")]),
    ],
)  # fmt: skip
def test_a_malformed_grpc_answer_makes_the_model_unavailable(response):
    with pytest.raises(ApiError) as failure:
        parse_oip_message("model_a", response)
    assert (failure.value.status, failure.value.code) == (503, "model_unavailable")


# -- errors as gRPC codes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (invalid_input("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (bad_request("not json"), grpc.StatusCode.INVALID_ARGUMENT),
        (ApiError(404, "model_not_found", "no"), grpc.StatusCode.NOT_FOUND),
        (overloaded(16), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (body_too_large(10), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (deadline_exceeded(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (model_unavailable("model_a", "down"), grpc.StatusCode.UNAVAILABLE),
        (ApiError(500, "internal_error", "bug"), grpc.StatusCode.INTERNAL),
        (ApiError(405, "method_not_allowed", "no"), grpc.StatusCode.UNIMPLEMENTED),
    ],
)
def test_every_error_has_its_grpc_code(error, code):
    assert grpc_code(error) == code
