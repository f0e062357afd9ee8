"""Real servers on 127.0.0.1 answering the protocol as a model service would, or as a broken one would: over REST
(its inference route) and over gRPC (``ModelInfer``)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc

from inference_protocol import inference_pb2 as pb
from inference_protocol import inference_pb2_grpc as pb_grpc
from tests.reference.answer_server import serve_answers

PREDICTION = 0.25
OUTPUT = b'{"name":"prediction","datatype":"FP64","shape":[1,1],"data":%s}'
ANSWER = b'{"model_name":"model_a","model_version":"1","outputs":[%s]}' % (OUTPUT % b"[0.25]")
# How the REST server answers: well formed on a kept-alive connection or on one it then closes, or broken.
REST_MODES = {
    "keep-alive": (200, ANSWER, {}),
    "connection-close": (200, ANSWER, {"Connection": "close"}),
    "status-500": (500, b'{"error":"boom"}', {}),
    "not-json": (200, b"<html>", {}),
    "not-finite": (200, ANSWER.replace(b"[0.25]", b"[NaN]"), {}),
    "a-string": (200, ANSWER.replace(b"[0.25]", b'["0.25"]'), {}),
    "no-prediction": (200, b'{"model_name":"model_a","model_version":"1","outputs":[]}', {}),
    "too-large-declared": (200, b"x" * 40_000, {}),
    "too-large-undeclared": (200, b"x" * 40_000, {"Connection": "close", "omit-length": "1"}),
    "dripping": (200, ANSWER, {"drip-s": "0.05"}),
    "silent": (200, ANSWER, {"delay-s": "3"}),
}
BROKEN_REST = ("status-500", "not-json", "not-finite", "a-string", "no-prediction", "too-large-declared",
               "too-large-undeclared")  # fmt: skip


@contextmanager
def rest_answer_server(mode: str) -> Iterator[str]:
    """The URL of a model service (its predict route, as scoring is given) answering every inference in ``mode``;
    the protocol's readiness (GET) ready unless the server is broken."""
    status, body, extra = REST_MODES[mode]
    with serve_answers(status, body, extra, ready=200 if status == 200 else 503) as url:
        yield url


def _output(datatype: str = "FP64") -> pb.ModelInferResponse.InferOutputTensor:
    return pb.ModelInferResponse.InferOutputTensor(name="prediction", datatype=datatype, shape=[1, 1])


def _answer(**fields) -> pb.ModelInferResponse:
    return pb.ModelInferResponse(model_name="model_a", model_version="1", **fields)


# How the gRPC server answers ModelInfer: well formed, broken, late, or with an error status.
GRPC_MODES = {
    "ok": _answer(outputs=[_output()], raw_output_contents=[struct.pack("<d", PREDICTION)]),
    "no-outputs": _answer(),
    "not-finite": _answer(outputs=[_output()], raw_output_contents=[struct.pack("<d", float("nan"))]),
    "wrong-datatype": _answer(outputs=[_output("FP32")], raw_output_contents=[struct.pack("<d", PREDICTION)]),
    "too-large": _answer(outputs=[_output()], raw_output_contents=[struct.pack("<d", PREDICTION) * 1000]),
    "silent": "silent",
    "overloaded": grpc.StatusCode.RESOURCE_EXHAUSTED,
}
BROKEN_GRPC = ("no-outputs", "not-finite", "wrong-datatype", "too-large", "overloaded")


@contextmanager
def grpc_answer_server(mode: str) -> Iterator[str]:
    """The address of a gRPC server answering every ``ModelInfer`` in ``mode``, and ready unless broken."""
    answer = GRPC_MODES[mode]

    class Servicer(pb_grpc.GRPCInferenceServiceServicer):
        def ModelInfer(self, request, context):
            if answer == "silent":
                time.sleep(3)
            elif isinstance(answer, grpc.StatusCode):
                context.abort(answer, "refused")
            return GRPC_MODES["ok"] if answer == "silent" else answer

        def ModelReady(self, request, context):
            return pb.ModelReadyResponse(ready=mode == "ok")

    server = grpc.server(ThreadPoolExecutor(4))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0).wait()
