"""``InferenceServicer``: the protocol over gRPC on the sync stack (grpcio's thread pool, the wait as ``time.sleep``).

The server is started by the app factory, in each gunicorn worker after fork (grpcio must not be initialised
in a process that forks afterwards), and stopped when the worker exits.
"""

from __future__ import annotations

import time

import grpc

from api_model.core import ModelCore
from api_model.oip_grpc import SERVICE, InferenceAnswers, rpc_options
from api_model.settings import ModelSettings
from inference_protocol import inference_pb2 as pb
from inference_protocol import inference_pb2_grpc as pb_grpc
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import deadline_exceeded
from service_runtime.core.server_settings import ServerSettings
from service_runtime.rpc.server_sync import RpcCalls, RpcServer


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over one model core."""

    def __init__(self, core: ModelCore, service: str) -> None:
        self._core = core
        self._answers = InferenceAnswers(core)
        self._calls = RpcCalls(service)

    def ServerLive(self, request: pb.ServerLiveRequest, context: grpc.ServicerContext):
        return self._calls.serve("ServerLive", context, lambda ctx: self._answers.server_live())

    def ServerReady(self, request: pb.ServerReadyRequest, context: grpc.ServicerContext):
        return self._calls.serve("ServerReady", context, lambda ctx: self._answers.server_ready())

    def ModelReady(self, request: pb.ModelReadyRequest, context: grpc.ServicerContext):
        return self._calls.serve("ModelReady", context, lambda ctx: self._answers.model_ready(request))

    def ServerMetadata(self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext):
        return self._calls.serve("ServerMetadata", context, lambda ctx: self._answers.server_metadata())

    def ModelMetadata(self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext):
        return self._calls.serve("ModelMetadata", context, lambda ctx: self._answers.model_metadata(request))

    def ModelInfer(self, request: pb.ModelInferRequest, context: grpc.ServicerContext):
        def infer(ctx: RequestContext) -> pb.ModelInferResponse:
            vectors = self._answers.infer_vectors(request)
            with ctx.stages.stage("inference"):
                wait, late = self._core.wait_within(ctx.deadline)  # the caller's deadline is the call's
                time.sleep(wait)
                if late:
                    raise deadline_exceeded()
                predictions = self._core.predict_rows(vectors)
            return self._answers.infer_response(request, predictions)

        return self._calls.serve("ModelInfer", context, infer)


def start_grpc(core: ModelCore, settings: ModelSettings, server: ServerSettings) -> RpcServer:
    """Start this worker's gRPC server."""
    servicer = InferenceServicer(core, server.name)
    return RpcServer.start(
        rpc_options(settings, server, "sync"),
        lambda grpc_server: pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, grpc_server),
        [SERVICE],
    )
