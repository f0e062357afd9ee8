"""The protocol over gRPC on the sync model service: grpcio's thread-pool server beside the worker's HTTP threads.

The server is started by the app factory, in each gunicorn worker after the fork (grpcio must not be initialised in
a process that forks afterwards), and stopped when the worker exits.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from inference_protocol import inference_pb2 as pb
from inference_protocol.grpc_server import (
    Call,
    GrpcOptions,
    InferenceAnswers,
    enable_reflection,
    health_status,
    register,
)
from inference_protocol.served import ServedModel
from inference_protocol.settings import ProtocolSettings
from reference.service import RequestContext
from reference.settings import ModelSettings

T = TypeVar("T")
Handler = Callable[[Any, RequestContext], T]


class InferenceServicer:
    """``inference.GRPCInferenceService`` over one served model."""

    def __init__(self, model: ServedModel, service: str) -> None:
        self._model, self._service = model, service
        self._answers = InferenceAnswers(model)

    def ServerLive(self, request: Message, context: grpc.ServicerContext) -> pb.ServerLiveResponse:
        return self._serve("ServerLive", request, context, self._answers.server_live)

    def ServerReady(self, request: Message, context: grpc.ServicerContext) -> pb.ServerReadyResponse:
        return self._serve("ServerReady", request, context, self._answers.server_ready)

    def ModelReady(self, request: Message, context: grpc.ServicerContext) -> pb.ModelReadyResponse:
        return self._serve("ModelReady", request, context, self._answers.model_ready)

    def ServerMetadata(self, request: Message, context: grpc.ServicerContext) -> pb.ServerMetadataResponse:
        return self._serve("ServerMetadata", request, context, self._answers.server_metadata)

    def ModelMetadata(self, request: Message, context: grpc.ServicerContext) -> pb.ModelMetadataResponse:
        return self._serve("ModelMetadata", request, context, self._answers.model_metadata)

    def ModelInfer(self, request: Message, context: grpc.ServicerContext) -> pb.ModelInferResponse:
        return self._serve("ModelInfer", request, context, self._infer)

    def _infer(self, request: pb.ModelInferRequest, ctx: RequestContext) -> pb.ModelInferResponse:
        vectors = self._answers.infer_vectors(request)
        with ctx.stages.stage("inference"):
            predictions = self._model.predict_rows(vectors, ctx)  # the caller's deadline is the call's
        return self._answers.infer_response(request, predictions)

    def _serve(self, method: str, request: Message, context: grpc.ServicerContext, handler: Handler[T]) -> T:
        """``handler``'s answer; an error it raises aborts the call with its gRPC code; counted either way."""
        call = Call(self._service, method, context.invocation_metadata(), context.time_remaining())
        context.set_trailing_metadata(call.trailing_metadata())
        try:
            answer = handler(call.check(request), call.ctx)
        except Exception as exc:  # an ApiError, or a bug: either way the caller gets a code, not a crash
            code, message = call.failed(exc)
            context.abort(code, message)
            raise  # abort raises; this line only satisfies the type checker
        else:
            if not context.is_active():  # the caller's deadline passed, or it cancelled, while the answer was made
                call.ended_early(context.time_remaining())
            return answer
        finally:
            call.record()


class HealthServicer(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 ``Check``: serving while it answers (``Watch`` is not offered)."""

    def Check(self, request: health_pb2.HealthCheckRequest,
              context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:  # fmt: skip
        status = health_status(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)


class GrpcServer:
    """One thread-pool server: a bounded pool, and as many calls at once as it has threads."""

    def __init__(self, server: grpc.Server, pool: ThreadPoolExecutor, port: int) -> None:
        self._server, self._pool = server, pool
        self.port = port

    @classmethod
    def start(cls, options: GrpcOptions, servicer: InferenceServicer) -> GrpcServer:
        """Serve ``servicer``, with health and reflection; a port that cannot be bound raises ``RuntimeError``.

        A call beyond ``max_concurrent_rpcs`` gets ``RESOURCE_EXHAUSTED`` at once rather than waiting for a thread.
        """
        pool = ThreadPoolExecutor(max_workers=options.max_concurrent_rpcs, thread_name_prefix="grpc")
        server = grpc.server(pool, maximum_concurrent_rpcs=options.max_concurrent_rpcs,
                             options=options.channel_args())  # fmt: skip
        register(server, servicer)
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
        enable_reflection(server)
        port = server.add_insecure_port(options.address)
        server.start()
        return cls(server, pool, port)

    def close(self, grace_s: float) -> None:
        """Refuse new calls, give those in flight ``grace_s`` to finish, then cancel them and stop the pool."""
        self._server.stop(grace_s).wait()
        self._pool.shutdown(wait=False, cancel_futures=True)


def start_grpc(model: ServedModel, settings: ModelSettings, protocol: ProtocolSettings, stack: str) -> GrpcServer:
    """Start this worker's gRPC server over ``model``."""
    return GrpcServer.start(GrpcOptions.of(settings, protocol, stack), InferenceServicer(model, settings.name))
