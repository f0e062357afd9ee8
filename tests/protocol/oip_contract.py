"""The Open Inference Protocol contract every stack's model services honour, run once per stack by the twin files
``test_oip_async.py`` / ``test_oip_sync.py``.

The model services run as real gunicorn processes of ``apps.model_*``, and are driven with NVIDIA's tritonclient (a
client nobody here wrote) over HTTP and gRPC, with and without a model version, and checked bit for bit against
their own predict route; scoring answers the same bytes over each transport.
"""

from __future__ import annotations

import asyncio
import collections
import random
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tritonclient.utils import InferenceServerException

from inference_protocol import inference_pb2 as pb
from inference_protocol.inference_pb2_grpc import GRPCInferenceServiceStub
from inference_protocol.paths import oip_infer_path, oip_model_path, oip_model_ready_path
from reference.api import METRICS_PATH, READY_PATH, predict_path
from tests.protocol.services import MODELS, scoring_env, start
from tests.reference.stack import ENTITIES, expected, features_of

TIMEOUT = 5
ROWS = 32
SERVICE = "inference.GRPCInferenceService"
VERSION = "1.0.0"
OTHER_VERSION = "2.0.0"
# tritonclient's model_version: "" asks the model's plain paths, a version its versioned ones.
VERSIONS = pytest.mark.parametrize("version", ["", VERSION], ids=["plain", "versioned"])


def batch() -> np.ndarray:
    """Rows of features: the reference's example, extremes of the allowed range, and seeded random ones."""
    rng = random.Random(14)
    rows = [[5.1, 3.5, 1.4, 0.2], [0.0, -0.0, 1e6, -1e6], [1e-300, 5e-324, 0.1, 1 / 3]]
    rows += [[rng.uniform(-10, 10) for _ in range(4)] for _ in range(ROWS - len(rows))]
    return np.array(rows, dtype=np.float64)


def json_route(http, models, stack, model, rows) -> list[float]:
    """What the reference's own predict route answers, row by row: the reference."""
    url = models[model].url + predict_path(stack)
    return [http.post(url, json={"features": row.tolist()}, timeout=TIMEOUT).json()["prediction"] for row in rows]


def bits(values) -> list[bytes]:
    return [struct.pack("<d", float(v)) for v in values]


def http_client(models, model) -> triton_http.InferenceServerClient:
    return triton_http.InferenceServerClient(f"127.0.0.1:{models[model].port}")


def grpc_client(models, model) -> triton_grpc.InferenceServerClient:
    return triton_grpc.InferenceServerClient(models[model].grpc_target)


def channel(models, model) -> grpc.Channel:
    return grpc.insecure_channel(models[model].grpc_target)


def infer_request(model: str, shape=(1, 4), data=(5.1, 3.5, 1.4, 0.2), name="features",
                  datatype="FP64") -> pb.ModelInferRequest:  # fmt: skip
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=list(shape))
    raw = struct.pack(f"<{len(data)}d", *data)
    return pb.ModelInferRequest(model_name=model, inputs=[tensor], raw_input_contents=[raw])


@VERSIONS
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_http_predicts_what_the_json_route_does_bit_for_bit(models, http, stack, model, binary, version):
    rows = batch()
    tensor = triton_http.InferInput("features", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    wanted = triton_http.InferRequestedOutput("prediction", binary_data=binary)
    result = http_client(models, model).infer(model, [tensor], model_version=version, outputs=[wanted],
                                              request_id="r-1")  # fmt: skip
    predictions = result.as_numpy("prediction")
    assert predictions.shape == (ROWS, 1)
    assert bits(predictions.ravel()) == bits(json_route(http, models, stack, model, rows))
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (model, VERSION, "r-1")


@VERSIONS
@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_grpc_predicts_what_the_json_route_does_bit_for_bit(models, http, stack, model, version):
    rows = batch()
    tensor = triton_grpc.InferInput("features", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    result = grpc_client(models, model).infer(model, [tensor], model_version=version, request_id="r-2")
    predictions = result.as_numpy("prediction")
    assert predictions.shape == (ROWS, 1)
    assert bits(predictions.ravel()) == bits(json_route(http, models, stack, model, rows))
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == (model, VERSION, "r-2")


@pytest.mark.parametrize("model", MODELS)
def test_typed_contents_are_read_as_raw_ones_are(models, http, stack, model):
    # tritonclient sends raw bytes; the protocol also allows the typed fp64_contents.
    rows = batch()[:4]
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="features", datatype="FP64", shape=[4, 4], contents=pb.InferTensorContents(fp64_contents=rows.ravel())
    )
    with channel(models, model) as ch:
        response = GRPCInferenceServiceStub(ch).ModelInfer(
            pb.ModelInferRequest(model_name=model, inputs=[tensor]), timeout=TIMEOUT
        )
    values = struct.unpack("<4d", response.raw_output_contents[0])
    assert bits(values) == bits(json_route(http, models, stack, model, rows))


@VERSIONS
@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_sees_health_and_metadata_over_both_protocols(models, model, version):
    expected_metadata = {
        "name": model, "versions": [VERSION], "platform": "python_logistic_regression",
        "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1, 1]}],
    }  # fmt: skip
    over_http = http_client(models, model)
    assert over_http.is_server_live()
    assert over_http.is_server_ready()
    assert over_http.is_model_ready(model, version)
    assert over_http.get_model_metadata(model, version) == expected_metadata
    assert over_http.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    over_grpc = grpc_client(models, model)
    assert over_grpc.is_server_live()
    assert over_grpc.is_server_ready()
    assert over_grpc.is_model_ready(model, version)
    assert not over_grpc.is_model_ready("no_such_model")
    metadata = over_grpc.get_model_metadata(model, version)
    tensors = [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.inputs]
    tensors += [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.outputs]
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        model,
        [VERSION],
        "python_logistic_regression",
    )
    assert tensors == expected_metadata["inputs"] + expected_metadata["outputs"]


def test_another_version_is_the_protocols_not_found_over_rest(models, http):
    message = f"no model 'model_a' version '{OTHER_VERSION}' on this server"
    not_found = {"status": 404, "error": "model_not_found", "message": message, "model": "model_a"}
    url = models["model_a"].url
    body = b'{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}'
    answers = [
        http.get(url + oip_model_path("model_a", OTHER_VERSION), timeout=TIMEOUT),
        http.get(url + oip_model_ready_path("model_a", OTHER_VERSION), timeout=TIMEOUT),
        http.post(url + oip_infer_path("model_a", OTHER_VERSION), data=body, timeout=TIMEOUT),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json() == not_found
    over_http = http_client(models, "model_a")
    assert not over_http.is_model_ready("model_a", OTHER_VERSION)
    with pytest.raises(InferenceServerException):
        over_http.get_model_metadata("model_a", OTHER_VERSION)
    tensor = triton_http.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException):
        over_http.infer("model_a", [tensor], model_version=OTHER_VERSION)


def test_another_version_is_not_found_over_grpc(models):
    over_grpc = grpc_client(models, "model_a")
    assert not over_grpc.is_model_ready("model_a", OTHER_VERSION)
    with pytest.raises(InferenceServerException) as failure:
        over_grpc.get_model_metadata("model_a", OTHER_VERSION)
    assert failure.value.status() == "StatusCode.NOT_FOUND"
    tensor = triton_grpc.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException) as failure:
        over_grpc.infer("model_a", [tensor], model_version=OTHER_VERSION)
    assert failure.value.status() == "StatusCode.NOT_FOUND"


BAD_TENSORS = {
    "wrong name": ("inputs", [1, 4], "FP64", [1.0, 2.0, 3.0, 4.0]),
    "wrong datatype": ("features", [1, 4], "FP32", [1.0, 2.0, 3.0, 4.0]),
    "three columns": ("features", [1, 3], "FP64", [1.0, 2.0, 3.0]),
    "no rows": ("features", [0, 4], "FP64", []),
    "one dimension": ("features", [4], "FP64", [1.0, 2.0, 3.0, 4.0]),
    "data shorter than shape": ("features", [2, 4], "FP64", [1.0, 2.0, 3.0, 4.0]),
    "NaN": ("features", [1, 4], "FP64", [float("nan"), 2.0, 3.0, 4.0]),
    "out of range": ("features", [1, 4], "FP64", [1e300, 2.0, 3.0, 4.0]),
}


@pytest.mark.parametrize("case", BAD_TENSORS)
def test_bad_tensors_are_invalid_argument_over_grpc_and_4xx_over_rest(models, http, case):
    name, shape, datatype, data = BAD_TENSORS[case]
    with channel(models, "model_a") as ch, pytest.raises(grpc.RpcError) as failure:
        GRPCInferenceServiceStub(ch).ModelInfer(infer_request("model_a", shape, data, name, datatype), timeout=TIMEOUT)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    body = {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}
    url = models["model_a"].url + oip_infer_path("model_a")
    response = http.post(url, data=requests.models.complexjson.dumps(body), timeout=TIMEOUT)  # NaN as JSON's NaN
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) >= {"status", "error", "message"}


RAGGED = b'{"inputs":[{"name":"features","shape":[2,4],"datatype":"FP64","data":[[5.1,3.5,1.4],[0.2,1,1,1,1]]}]}'
FLAT = b'{"inputs":[{"name":"features","shape":[2,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2,1,1,1,1]}]}'


def test_nested_rows_must_match_the_declared_shape_and_flat_data_its_length(models, http):
    url = models["model_a"].url + oip_infer_path("model_a")
    ragged = http.post(url, data=RAGGED, timeout=TIMEOUT)
    assert ragged.status_code == 422, ragged.text
    assert (ragged.json()["error"], ragged.json()["field"]) == ("invalid_input", "inputs")
    flat = http.post(url, data=FLAT, timeout=TIMEOUT)
    assert flat.status_code == 200, flat.text
    assert flat.json()["outputs"][0]["shape"] == [2, 1]


@pytest.mark.parametrize("method", ["ModelInfer", "ModelMetadata", "ServerLive"])
def test_bytes_that_are_no_message_are_invalid_argument_naming_nothing_internal(models, method):
    with channel(models, "model_a") as ch, pytest.raises(grpc.RpcError) as failure:
        ch.unary_unary(f"/{SERVICE}/{method}")(b"\xff\xff\xff\xff", timeout=TIMEOUT)  # bytes in, bytes out
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.value.details() == f"the request is not a valid {method}Request message"


def test_unknown_model_is_not_found(models, http):
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(models, "model_a").get_model_metadata("model_z")
    assert failure.value.status() == "StatusCode.NOT_FOUND"
    tensor = triton_grpc.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(models, "model_a").infer("model_b", [tensor])  # model_a's server serves no model_b
    assert failure.value.status() == "StatusCode.NOT_FOUND"
    response = http.post(models["model_a"].url + oip_infer_path("model_z"), timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_deadline_shorter_than_the_inference_is_deadline_exceeded(models):
    tensor = triton_grpc.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(models, "model_a").infer("model_a", [tensor], client_timeout=0.01)  # the wait is 40 ms
    assert failure.value.status() == "StatusCode.DEADLINE_EXCEEDED"


def test_health_reflection_and_request_id_over_grpc(models):
    with channel(models, "model_b") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", SERVICE):
            answer = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=TIMEOUT)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as failure:
            health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=TIMEOUT)
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND
        listing = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT
        )
        names = {s.name for answer in listing for s in answer.list_services_response.service}
        assert {SERVICE, "grpc.health.v1.Health"} <= names
        # What grpcurl asks to describe a service: the file that defines it, from the server itself.
        (found,) = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]), timeout=TIMEOUT
        )
        (proto,) = found.file_descriptor_response.file_descriptor_proto
        assert descriptor_pb2.FileDescriptorProto.FromString(proto).package == "inference"
        _, call = GRPCInferenceServiceStub(ch).ServerLive.with_call(
            pb.ServerLiveRequest(), metadata=(("x-request-id", "oip-42"),), timeout=TIMEOUT
        )
        assert ("x-request-id", "oip-42") in tuple(call.trailing_metadata())


def test_grpc_calls_are_counted_in_the_services_metrics(models, http, stack):
    with channel(models, "model_a") as ch:
        GRPCInferenceServiceStub(ch).ServerReady(pb.ServerReadyRequest(), timeout=TIMEOUT)
        with pytest.raises(grpc.RpcError):
            GRPCInferenceServiceStub(ch).ModelInfer(infer_request("model_a", (1, 3), (1.0, 2.0, 3.0)), timeout=TIMEOUT)
    metrics = http.get(models["model_a"].url + METRICS_PATH, timeout=TIMEOUT).text
    counted = [line for line in metrics.splitlines() if line.startswith("grpc_server_handled_total{")]
    for method, code in (("ServerReady", "OK"), ("ModelInfer", "INVALID_ARGUMENT")):
        labels = (f'grpc_code="{code}"', f'grpc_method="{method}"', f'service="{stack}-model_a"')
        assert any(all(label in line for label in labels) for line in counted), counted
    assert f'grpc_server_handling_seconds_count{{grpc_method="ServerReady",service="{stack}-model_a"}}' in metrics


@pytest.fixture(scope="module")
def transports(models, redis_server, stack, tmp_path_factory):
    """A scoring service per transport to the same models and Redis: rest, oip-rest and grpc, with budgets that a
    machine busy with other work cannot exhaust (the answers are what these tests check)."""
    logs = tmp_path_factory.mktemp(f"transports-{stack}")
    generous = {"SCORING_DEADLINE_S": "5", "SCORING_REDIS_TIMEOUT_S": "2", "SCORING_MODEL_TIMEOUT_S": "4",
                "SCORING_CONNECT_TIMEOUT_S": "2"}  # fmt: skip
    started = {}
    try:
        for protocol in ("rest", "oip-rest", "grpc"):
            env = scoring_env(stack, models, redis_server.url, protocol) | generous
            started[protocol] = start("scoring", stack, logs / f"scoring-{protocol}.log", **env)
        yield {protocol: running.url for protocol, running in started.items()}
    finally:
        for running in started.values():
            running.stop()


@pytest.mark.parametrize("protocol", ["rest", "oip-rest", "grpc"])
def test_scoring_answers_the_same_bytes_over_every_transport(transports, http, stack, protocol):
    url = transports[protocol] + predict_path(stack)
    for entity_id in map(str, range(0, ENTITIES, 3)):
        response = http.post(url, json={"entity_id": entity_id}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.content == expected(entity_id, features_of(entity_id)).model_dump_json().encode()
    ready = http.get(transports[protocol] + READY_PATH, timeout=TIMEOUT)
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "model_a": "ok", "model_b": "ok"}}


@pytest.fixture(scope="module")
def tiny_model(stack, tmp_path_factory):
    """One more model_a that serves one call at a time (gRPC included): overload is one call away."""
    log = tmp_path_factory.mktemp(f"tiny-{stack}") / "model.log"
    running = start("model_a", stack, log, SERVER_WORKERS="1", SERVER_THREADS="1", SERVER_MAX_IN_FLIGHT="1")
    yield running
    running.stop()


def test_overload_is_resource_exhausted(tiny_model):
    def call(_) -> grpc.StatusCode:
        with grpc.insecure_channel(tiny_model.grpc_target) as ch:
            try:
                GRPCInferenceServiceStub(ch).ModelInfer(infer_request("model_a"), timeout=TIMEOUT, wait_for_ready=True)
            except grpc.RpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(call, range(8)))
    assert grpc.StatusCode.OK in codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_a_message_over_the_body_limit_is_resource_exhausted(models):
    rows = 65_536 // 32 + 1  # MAX_BODY_BYTES' default, in rows of four FP64
    with channel(models, "model_a") as ch, pytest.raises(grpc.RpcError) as failure:
        GRPCInferenceServiceStub(ch).ModelInfer(infer_request("model_a", (rows, 4), (0.5,) * 4 * rows), timeout=TIMEOUT)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture(scope="module")
def small_backlog_model(stack, tmp_path_factory):
    """One more model_a whose gRPC server holds at most one to three calls its servicer has not taken yet."""
    log = tmp_path_factory.mktemp(f"backlog-{stack}") / "model.log"
    running = start("model_a", stack, log, SERVER_WORKERS="1", MODEL_GRPC_MAX_PENDING_CALLS="1")
    yield running
    running.stop()


def test_calls_beyond_the_servers_backlog_end_cancelled_without_reaching_the_servicer(small_backlog_model, http):
    # Many calls at once on one channel: gRPC's core queues those its server has not taken yet, and drops what
    # is beyond its backlog with CANCELLED (the server's doing, not the client's: doc/protocol.md).
    async def burst() -> collections.Counter:
        async with grpc.aio.insecure_channel(small_backlog_model.grpc_target) as ch:
            stub = GRPCInferenceServiceStub(ch)

            async def call() -> grpc.StatusCode:
                try:
                    await stub.ModelInfer(infer_request("model_a"), timeout=TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK

            return collections.Counter(await asyncio.gather(*(call() for _ in range(300))))

    codes = asyncio.run(burst())
    assert codes[grpc.StatusCode.CANCELLED] > 0, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
    metrics = http.get(small_backlog_model.url + METRICS_PATH, timeout=TIMEOUT).text
    served = [line for line in metrics.splitlines() if line.startswith("grpc_server_handled_total{")]
    assert not any('grpc_code="CANCELLED"' in line for line in served), served
    assert (
        sum(float(line.rsplit(" ", 1)[1]) for line in served if 'grpc_method="ModelInfer"' in line)
        == codes[grpc.StatusCode.OK]
    )


def test_grpc_starts_in_the_workers_only_after_fork(tiny_model):
    # grpcio must not be initialised in a process that forks afterwards: gunicorn's master never loads it.
    assert "cygrpc" not in Path(f"/proc/{tiny_model.process.pid}/maps").read_text()
    (worker,) = tiny_model.workers()
    assert "cygrpc" in Path(f"/proc/{worker}/maps").read_text()
