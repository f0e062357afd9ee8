"""The Open Inference Protocol contract every stack must honour, run once per stack by the twin files
``test_oip_async.py`` / ``test_oip_sync.py``.

The model services are driven with NVIDIA's tritonclient (a client nobody here wrote) over HTTP and gRPC, and
checked bit for bit against their own JSON route; scoring over each transport answers the bytes it answers
today. Everything runs against the session's real system, plus a few processes of its own started with the
registry's commands.
"""

from __future__ import annotations

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

from benchmark.load.expected import expected_body
from inference_protocol import inference_pb2 as pb
from inference_protocol.inference_pb2_grpc import GRPCInferenceServiceStub
from service_runtime.core.topology import METRICS_PATH, READINESS_PATH, oip_infer_path, predict_path
from system_launcher.net import free_ports
from system_launcher.procfs import children
from system_launcher.registry import service
from tests.integration.harness import extra_service

MODELS = ("model_a", "model_b")
TIMEOUT = 5
ROWS = 32
SERVICE = "inference.GRPCInferenceService"


def batch() -> np.ndarray:
    """Rows of features: the study's example, extremes of the allowed range, and seeded random ones."""
    rng = random.Random(14)
    rows = [[5.1, 3.5, 1.4, 0.2], [0.0, -0.0, 1e6, -1e6], [1e-300, 5e-324, 0.1, 1 / 3]]
    rows += [[rng.uniform(-10, 10) for _ in range(4)] for _ in range(ROWS - len(rows))]
    return np.array(rows, dtype=np.float64)


def json_route(http, running, stack, model, rows) -> list[float]:
    """What the study's own JSON route answers, row by row: the reference."""
    url = service(stack, model).predict_url(running.settings)
    return [http.post(url, json=row.tolist(), timeout=TIMEOUT).json()["prediction"] for row in rows]


def bits(values) -> list[bytes]:
    return [struct.pack("<d", float(v)) for v in values]


def http_client(running, stack, model) -> triton_http.InferenceServerClient:
    return triton_http.InferenceServerClient(f"127.0.0.1:{running.settings.port(stack, model)}")


def grpc_client(running, stack, model) -> triton_grpc.InferenceServerClient:
    return triton_grpc.InferenceServerClient(f"127.0.0.1:{running.settings.grpc_port(stack, model)}")


def channel(running, stack, model) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{running.settings.grpc_port(stack, model)}")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_http_predicts_what_the_json_route_does_bit_for_bit(running, http, stack, model, binary):
    rows = batch()
    tensor = triton_http.InferInput("features", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    wanted = triton_http.InferRequestedOutput("prediction", binary_data=binary)
    result = http_client(running, stack, model).infer(model, [tensor], outputs=[wanted], request_id="r-1")
    predictions = result.as_numpy("prediction")
    assert predictions.shape == (ROWS, 1)
    assert bits(predictions.ravel()) == bits(json_route(http, running, stack, model, rows))
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (model, "1.0.0", "r-1")


@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_grpc_predicts_what_the_json_route_does_bit_for_bit(running, http, stack, model):
    rows = batch()
    tensor = triton_grpc.InferInput("features", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    result = grpc_client(running, stack, model).infer(model, [tensor], request_id="r-2")
    predictions = result.as_numpy("prediction")
    assert predictions.shape == (ROWS, 1)
    assert bits(predictions.ravel()) == bits(json_route(http, running, stack, model, rows))
    response = result.get_response()
    assert (response.model_name, response.model_version, response.id) == (model, "1.0.0", "r-2")


@pytest.mark.parametrize("model", MODELS)
def test_typed_contents_are_read_as_raw_ones_are(running, http, stack, model):
    # tritonclient sends raw bytes; the protocol also allows the typed fp64_contents.
    rows = batch()[:4]
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="features", datatype="FP64", shape=[4, 4], contents=pb.InferTensorContents(fp64_contents=rows.ravel())
    )
    with channel(running, stack, model) as ch:
        response = GRPCInferenceServiceStub(ch).ModelInfer(
            pb.ModelInferRequest(model_name=model, inputs=[tensor]), timeout=TIMEOUT
        )
    values = struct.unpack("<4d", response.raw_output_contents[0])
    assert bits(values) == bits(json_route(http, running, stack, model, rows))


@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_sees_health_and_metadata_over_both_protocols(running, stack, model):
    expected = {"name": model, "versions": ["1.0.0"], "platform": "python_logistic_regression",
                "inputs": [{"name": "features", "datatype": "FP64", "shape": [-1, 4]}],
                "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1, 1]}]}  # fmt: skip
    over_http = http_client(running, stack, model)
    assert over_http.is_server_live()
    assert over_http.is_server_ready()
    assert over_http.is_model_ready(model)
    assert over_http.get_model_metadata(model) == expected
    assert over_http.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    over_grpc = grpc_client(running, stack, model)
    assert over_grpc.is_server_live()
    assert over_grpc.is_server_ready()
    assert over_grpc.is_model_ready(model)
    assert not over_grpc.is_model_ready("no_such_model")
    metadata = over_grpc.get_model_metadata(model)
    tensors = [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.inputs]
    tensors += [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in metadata.outputs]
    assert (metadata.name, list(metadata.versions), metadata.platform) == (model, ["1.0.0"], expected["platform"])
    assert tensors == expected["inputs"] + expected["outputs"]


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
def test_bad_tensors_are_invalid_argument_over_grpc_and_4xx_over_rest(running, http, stack, case):
    name, shape, datatype, data = BAD_TENSORS[case]
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype, shape=shape)
    raw = struct.pack(f"<{len(data)}d", *data)
    with channel(running, stack, "model_a") as ch, pytest.raises(grpc.RpcError) as failure:
        GRPCInferenceServiceStub(ch).ModelInfer(
            pb.ModelInferRequest(model_name="model_a", inputs=[tensor], raw_input_contents=[raw]), timeout=TIMEOUT
        )
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    body = {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}
    url = service(stack, "model_a").url(running.settings, oip_infer_path("model_a"))
    response = http.post(url, data=requests.models.complexjson.dumps(body), timeout=TIMEOUT)  # NaN as JSON's NaN
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) >= {"status", "error", "message"}


def test_unknown_model_is_not_found(running, http, stack):
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(running, stack, "model_a").get_model_metadata("model_z")
    assert failure.value.status() == "StatusCode.NOT_FOUND"
    tensor = triton_grpc.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(running, stack, "model_a").infer("model_b", [tensor])  # model_a's server serves no model_b
    assert failure.value.status() == "StatusCode.NOT_FOUND"
    response = http.post(service(stack, "model_a").url(running.settings, oip_infer_path("model_z")), timeout=5)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_deadline_shorter_than_the_inference_is_deadline_exceeded(running, stack):
    tensor = triton_grpc.InferInput("features", [1, 4], "FP64")
    tensor.set_data_from_numpy(batch()[:1])
    with pytest.raises(InferenceServerException) as failure:
        grpc_client(running, stack, "model_a").infer("model_a", [tensor], client_timeout=0.01)  # the wait is 40 ms
    assert failure.value.status() == "StatusCode.DEADLINE_EXCEEDED"


def test_health_reflection_and_request_id_over_grpc(running, stack):
    with channel(running, stack, "model_b") as ch:
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


def test_grpc_calls_are_counted_in_the_services_metrics(running, http, stack):
    with channel(running, stack, "model_a") as ch:
        GRPCInferenceServiceStub(ch).ServerReady(pb.ServerReadyRequest(), timeout=TIMEOUT)
    metrics = http.get(service(stack, "model_a").url(running.settings, METRICS_PATH), timeout=TIMEOUT).text
    labels = ('grpc_code="OK"', 'grpc_method="ServerReady"', f'service="{stack}-model-a"')
    counted = [line for line in metrics.splitlines() if line.startswith("grpc_server_handled_total{")]
    assert any(all(label in line for label in labels) for line in counted), counted


@pytest.fixture(scope="module")
def transports(running, stack, tmp_path_factory):
    """One more scoring process per protocol of the Open Inference Protocol, beside the system's (which uses rest),
    reaching the same Redis and models, straight to the server (no edge)."""
    scoring = service(stack, "scoring")
    logs = tmp_path_factory.mktemp(f"transports-{stack}")
    ports = dict(zip(("oip-rest", "grpc"), free_ports(2), strict=True))
    with (
        extra_service(scoring, running.settings, logs / "oip-rest.log", SERVER_PORT=str(ports["oip-rest"]),
                      SCORING_MODEL_PROTOCOL="oip-rest", SERVER_WORKERS="1") as _rest,
        extra_service(scoring, running.settings, logs / "grpc.log", SERVER_PORT=str(ports["grpc"]),
                      SCORING_MODEL_PROTOCOL="grpc", SERVER_WORKERS="1") as _grpc,
    ):  # fmt: skip
        base = {"rest": scoring.direct_url(running.settings)} | {p: f"http://127.0.0.1:{port}" for p, port in
                                                                  ports.items()}  # fmt: skip
        yield base


@pytest.mark.parametrize("protocol", ["rest", "oip-rest", "grpc"])
def test_scoring_answers_the_same_bytes_over_every_transport(transports, http, stack, protocol):
    url = transports[protocol] + predict_path(stack)
    for entity_id in map(str, range(0, 10_000, 211)):
        response = http.post(url, json={"entity_id": entity_id}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.content == expected_body(entity_id)
    ready = http.get(transports[protocol] + READINESS_PATH, timeout=TIMEOUT)
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "model_a": "ok", "model_b": "ok"}}


@pytest.fixture(scope="module")
def tiny_model(running, stack, tmp_path_factory):
    """One more model_a that serves one call at a time (gRPC included): overload is one call away."""
    http_port, grpc_port = free_ports(2)
    log = tmp_path_factory.mktemp(f"tiny-{stack}") / "model.log"
    with extra_service(service(stack, "model_a"), running.settings, log, SERVER_PORT=str(http_port),
                       MODEL_GRPC_PORT=str(grpc_port), SERVER_WORKERS="1", SERVER_THREADS="1",
                       SERVER_MAX_IN_FLIGHT="1") as popen:  # fmt: skip
        yield popen, grpc_port


def test_overload_is_resource_exhausted(tiny_model):
    _, port = tiny_model
    tensor = pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP64", shape=[1, 4])
    request = pb.ModelInferRequest(model_name="model_a", inputs=[tensor], raw_input_contents=[bytes(32)])

    def call(_) -> grpc.StatusCode:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            try:
                GRPCInferenceServiceStub(ch).ModelInfer(request, timeout=TIMEOUT, wait_for_ready=True)
            except grpc.RpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(call, range(8)))
    assert grpc.StatusCode.OK in codes
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_grpc_starts_in_the_workers_only_after_fork(tiny_model):
    # grpcio must not be initialised in a process that forks afterwards: gunicorn's master never loads it.
    popen, _ = tiny_model
    assert "cygrpc" not in Path(f"/proc/{popen.pid}/maps").read_text()
    (worker,) = children(popen.pid)
    assert "cygrpc" in Path(f"/proc/{worker}/maps").read_text()
