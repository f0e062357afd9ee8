"""The Open Inference Protocol's pure pieces: the stubs, paths, tensors both ways, the features' rule, the client's
reading of answers, and errors as gRPC codes."""

from __future__ import annotations

import struct

import grpc
import orjson
import pytest
from google.protobuf.descriptor import Descriptor
from tritonclient.grpc import service_pb2 as triton_pb

from inference_protocol import codegen
from inference_protocol import inference_pb2 as pb
from inference_protocol.clients import prediction
from inference_protocol.features import FEATURES_INPUT as INPUT
from inference_protocol.features import PREDICTION_OUTPUT as OUTPUT
from inference_protocol.features import vectors
from inference_protocol.grpc_server import Call, Undecodable, decoder, grpc_code
from inference_protocol.messages import first_value, infer_response, one_row_request, request_rows
from inference_protocol.metadata import ModelMetadata
from inference_protocol.paths import oip_infer_path, oip_model_path, oip_model_ready_path, oip_url
from inference_protocol.rest import HEADER_LENGTH, InferRequest, parse_infer_request
from inference_protocol.rest import first_value as rest_first_value
from inference_protocol.rest import infer_response as rest_response
from inference_protocol.rest import one_row_request as rest_one_row_request
from inference_protocol.routes_async import oip_router
from inference_protocol.routes_sync import oip_blueprint
from inference_protocol.tensors import fp64_bytes
from reference import web_async, web_sync
from reference.core import ApiError, body_too_large, deadline_exceeded, invalid_input, unavailable
from reference.service import Service, overloaded
from reference.settings import ModelSettings

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


# -- paths ------------------------------------------------------------------------------------------------------------
def test_every_model_path_has_its_versioned_form_as_tritonclient_builds_it():
    assert oip_model_path("model_a") == "/v2/models/model_a"
    assert oip_model_path("model_a", "1.0.0") == "/v2/models/model_a/versions/1.0.0"
    assert oip_model_ready_path("model_a", "1.0.0") == "/v2/models/model_a/versions/1.0.0/ready"
    assert oip_infer_path("model_b") == "/v2/models/model_b/infer"
    assert oip_infer_path("model_b", "{version}") == "/v2/models/model_b/versions/{version}/infer"
    assert oip_url("http://127.0.0.1:8000/api/v1/ml/async/predict", oip_infer_path("model_a")) == (
        "http://127.0.0.1:8000/v2/models/model_a/infer"
    )


def test_a_model_serves_its_own_version_only():
    metadata = ModelMetadata("model_a", "1.0.0", "python_logistic_regression")
    assert metadata.serves("model_a")
    assert metadata.serves("model_a", "1.0.0")
    for name, version in (("model_a", "2"), ("model_b", ""), ("model_b", "1.0.0")):
        assert not metadata.serves(name, version)
        with pytest.raises(ApiError) as failure:
            metadata.check(name, version)
        assert (failure.value.status, failure.value.code) == (404, "model_not_found")


# -- REST: the routes' documents --------------------------------------------------------------------------------------
def test_both_stacks_document_the_protocols_routes_alike():
    settings = ModelSettings()
    fast = web_async.service_app(Service.of(settings, "async", []), "model_a", "1.0.0", settings.max_body_bytes)
    fast.include_router(oip_router("model_a"))
    flask = web_sync.service_app(Service.of(settings, "sync", []), "model_a", "1.0.0", settings.max_body_bytes)
    flask.register_api(oip_blueprint("model_a"))
    for_async, for_sync = fast.openapi(), flask.api_doc
    routes = {p for p in for_async["paths"] if p.startswith("/v2")}
    assert routes == {p for p in for_sync["paths"] if p.startswith("/v2")}
    assert oip_infer_path("model_a", "{version}") in routes
    assert for_async["components"]["schemas"] == for_sync["components"]["schemas"]
    for path in (oip_infer_path("model_a"), oip_infer_path("model_a", "{version}")):
        operation_async, operation_sync = for_async["paths"][path]["post"], for_sync["paths"][path]["post"]
        assert operation_async["requestBody"] == operation_sync["requestBody"]
        assert operation_async.get("parameters") == operation_sync.get("parameters")
        assert operation_async["responses"].keys() == operation_sync["responses"].keys()


# -- REST: requests ---------------------------------------------------------------------------------------------------
def body(**tensor) -> bytes:
    return orjson.dumps({"inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP64", **tensor}]})


def parse(raw: bytes, header_length: str | None = None) -> InferRequest:
    return parse_infer_request(INPUT, OUTPUT, raw, header_length)


def test_json_data_flat_or_one_list_per_row():
    flat = parse(body(data=[v for row in ROWS for v in row]))
    nested = parse(body(data=ROWS))
    assert flat.rows == nested.rows == ROWS
    assert not flat.binary_output


def test_binary_data_after_the_json_header():
    data = fp64_bytes([v for row in ROWS for v in row])
    header = body(parameters={"binary_data_size": len(data)})
    parsed = parse(header + data, str(len(header)))
    assert struct.pack("<12d", *(v for row in parsed.rows for v in row)) == data


RAGGED = b'{"inputs":[{"name":"features","shape":[2,4],"datatype":"FP64","data":[[5.1,3.5,1.4],[0.2,1,1,1,1]]}]}'


@pytest.mark.parametrize(
    "raw",
    [
        RAGGED,  # eight numbers, as the shape says, but rows of 3 and 5
        body(data=[[5.1, 3.5], [1.4, 0.2, 1, 2], [3, 4, 5, 6, 7, 8]]),
        body(data=[*ROWS, [1.0, 2.0, 3.0, 4.0]]),  # one row more than declared
        body(data=[ROWS[0], 1.0, 2.0, 3.0, 4.0, *ROWS[2]]),  # flat and nested mixed
    ],
)
def test_nested_rows_must_match_the_declared_shape_row_by_row(raw):
    with pytest.raises(ApiError) as failure:
        parse(raw)
    assert (failure.value.status, failure.value.code, failure.value.extra) == (
        422,
        "invalid_input",
        {"field": "inputs"},
    )


def test_flat_data_of_the_declared_length_is_rows_of_the_declared_width():
    flat = [5.1, 3.5, 1.4, 0.2, 1, 1, 1, 1]
    raw = b'{"inputs":[{"name":"features","shape":[2,4],"datatype":"FP64","data":%s}]}' % orjson.dumps(flat)
    assert parse(raw).rows == [flat[:4], flat[4:]]


@pytest.mark.parametrize(
    ("raw", "header_length", "status"),
    [
        (body(name="x", data=ROWS), None, 422),  # unknown input
        (body(datatype="FP32", data=ROWS), None, 422),
        (body(shape=[3, 3], data=ROWS), None, 422),
        (body(shape=[0, 4], data=[]), None, 422),
        (body(shape=[12], data=ROWS), None, 422),
        (body(shape=[3, True], data=ROWS), None, 422),
        (body(data=ROWS[:2]), None, 422),  # fewer rows than declared
        (body(data="1,2,3"), None, 422),
        (body(data=[["1", 2, 3, 4]] * 3), None, 422),
        (body(), None, 422),  # no data at all
        (body(data=ROWS, extra=1), None, 422),
        (orjson.dumps({"inputs": []}), None, 422),
        (orjson.dumps({"inputs": [{}], "debug": 1}), None, 422),
        (orjson.dumps({"id": 5, "inputs": [{}]}), None, 422),
        (orjson.dumps([1, 2, 3, 4]), None, 422),
        (b"null", None, 422),
        (b"", None, 400),
        (b'{"inputs": ', None, 400),
        (body(data=ROWS) + b"xx", "nan", 422),  # a header length that is no length
        (body(data=ROWS), "99999", 422),
        (body(data=ROWS) + b"x" * 8, None, 400),  # binary data nobody claims, read as JSON: not JSON
        (body(data=ROWS) + b"x" * 8, str(len(body(data=ROWS))), 422),
        (body(parameters={"binary_data_size": 8}) + b"x" * 8, str(len(body(parameters={"binary_data_size": 8}))), 422),
    ],
)
def test_bad_requests_are_4xx(raw, header_length, status):
    with pytest.raises(ApiError) as failure:
        parse(raw, header_length)
    assert failure.value.status == status


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
        parse(raw)
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
    assert parse(raw).binary_output is binary


def test_rows_follow_the_predict_routes_rule_whatever_carried_them():
    assert vectors([[1, 2, 3, 4]]) == [(1.0, 2.0, 3.0, 4.0)]
    for bad in ([float("nan"), 0, 0, 0], [0, float("inf"), 0, 0], [1e7, 0, 0, 0], ["1", 0, 0, 0], [True, 0, 0, 0]):
        with pytest.raises(ApiError) as failure:
            vectors([ROWS[0], bad])
        assert (failure.value.status, failure.value.code) == (422, "invalid_input")
        assert "row 1" in failure.value.message


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


def test_the_scoring_clients_request_and_answer_reading():
    request = parse(rest_one_row_request(INPUT, tuple(ROWS[1])))
    assert request.rows == [ROWS[1]]
    raw, _ = rest_response(OUTPUT, "model_b", "1.0.0", request, [0.25])
    answer = prediction(rest_first_value(OUTPUT, raw))
    assert (answer.model, answer.version, answer.prediction) == ("model_b", "1.0.0", 0.25)


@pytest.mark.parametrize(
    "raw",
    [b"{}", b"not json", b'{"model_name": "m", "outputs": [{"name": "other", "data": [1]}]}',
     b'{"model_name": "m", "model_version": "1", "outputs": [{"name": "prediction", "datatype": "FP64", '
     b'"shape": [1, 1], "data": []}]}',
     b'{"model_name": "m", "outputs": [{"name": "prediction", "data": [true]}]}',
     b'{"model_name": "m", "outputs": [{"name": "prediction", "data": ["0.5"]}]}',
     b'{"model_name": "m", "model_version": "1", "outputs": [{"name": "prediction", "datatype": "FP64", '
     b'"shape": [1, 1], "data": [NaN]}]}'],
)  # fmt: skip
def test_a_malformed_answer_is_a_value_error(raw):
    with pytest.raises(ValueError, match=r".+"):  # the client's failure (a 503) gives the exception's name only
        prediction(rest_first_value(OUTPUT, raw))


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
    assert prediction(first_value(OUTPUT, typed)).prediction == 0.5


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
def test_a_malformed_grpc_answer_is_a_value_error(response):
    with pytest.raises(ValueError, match=r".+"):
        prediction(first_value(OUTPUT, response))


# -- requests that are no message -------------------------------------------------------------------------------------
def test_bytes_that_are_no_message_become_invalid_argument_naming_no_exception():
    decode = decoder(pb.ModelInferRequest)
    assert decode(grpc_request().SerializeToString()) == grpc_request()
    undecodable = decode(b"\xff\xff\xff\xff")
    assert isinstance(undecodable, Undecodable)
    call = Call("model", "ModelInfer", (), None)
    with pytest.raises(ApiError) as failure:
        call.check(undecodable)
    code, message = call.failed(failure.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == "the request is not a valid ModelInferRequest message"


def test_a_call_takes_a_well_formed_request_id_and_the_callers_deadline():
    call = Call("model", "ServerLive", (("x-request-id", "oip-42"),), 2.0)
    assert call.ctx.request_id == "oip-42"
    assert 0 < call.ctx.deadline.remaining() <= 2.0
    assert call.trailing_metadata() == (("x-request-id", "oip-42"),)
    replaced = Call("model", "ServerLive", (("x-request-id", "bad id\t"),), None)
    assert len(replaced.ctx.request_id) == 32
    assert replaced.ctx.deadline.remaining() == float("inf")


# -- errors as gRPC codes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (invalid_input("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (ApiError(400, "invalid_json", "not json"), grpc.StatusCode.INVALID_ARGUMENT),
        (ApiError(404, "model_not_found", "no"), grpc.StatusCode.NOT_FOUND),
        (overloaded("full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (body_too_large(10), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (deadline_exceeded(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (unavailable("model_unavailable", "down", ["model_a"]), grpc.StatusCode.UNAVAILABLE),
        (ApiError(500, "internal_error", "bug"), grpc.StatusCode.INTERNAL),
    ],
)
def test_every_error_has_its_grpc_code(error, code):
    assert grpc_code(error) == code


def test_an_unexpected_error_is_internal_and_says_nothing_of_itself():
    call = Call("model", "ModelInfer", (), None)
    assert call.failed(KeyError("secret")) == (grpc.StatusCode.INTERNAL, "unexpected server error")
