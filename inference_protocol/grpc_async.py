"""The protocol over gRPC on the async model service: a grpc.aio server in the worker's own event loop.

The server is started and stopped by the app's lifespan: one process per worker serves both transports with one
model and one set of metrics, where a separate process would cost every model service another interpreter on
cores the stacks share.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
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
from inference_protocol.served import AsyncServedModel
from inference_protocol.settings import ProtocolSettings
from reference.service import RequestContext
from reference.settings import ModelSettings

T = TypeVar("T")
Handler = Callable[[Any, RequestContext], T | Awaitable[T]]


class AsyncInferenceServicer:
    """``inference.GRPCInferenceService`` over one served model."""

    def __init__(self, model: AsyncServedModel, service: str) -> None:
        self._model, self._service = model, service
        self._answers = InferenceAnswers(model)

    async def ServerLive(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ServerLiveResponse:
        return await self._serve("ServerLive", request, context, self._answers.server_live)

    async def ServerReady(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ServerReadyResponse:
        return await self._serve("ServerReady", request, context, self._answers.server_ready)

    async def ModelReady(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ModelReadyResponse:
        return await self._serve("ModelReady", request, context, self._answers.model_ready)

    async def ServerMetadata(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ServerMetadataResponse:
        return await self._serve("ServerMetadata", request, context, self._answers.server_metadata)

    async def ModelMetadata(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ModelMetadataResponse:
        return await self._serve("ModelMetadata", request, context, self._answers.model_metadata)

    async def ModelInfer(self, request: Message, context: grpc.aio.ServicerContext) -> pb.ModelInferResponse:
        return await self._serve("ModelInfer", request, context, self._infer)

    async def _infer(self, request: pb.ModelInferRequest, ctx: RequestContext) -> pb.ModelInferResponse:
        vectors = self._answers.infer_vectors(request)
        with ctx.stages.stage("inference"):
            predictions = await self._model.predict_rows(vectors, ctx)  # the caller's deadline is the call's
        return self._answers.infer_response(request, predictions)

    async def _serve(self, method: str, request: Message, context: grpc.aio.ServicerContext,
                     handler: Handler[T]) -> T:  # fmt: skip
        """``handler``'s answer; an error it raises aborts the call with its gRPC code; counted either way."""
        call = Call(self._service, method, context.invocation_metadata(), context.time_remaining())
        context.set_trailing_metadata(call.trailing_metadata())
        try:
            answer = handler(call.check(request), call.ctx)
            return await answer if inspect.isawaitable(answer) else answer
        except Exception as exc:  # an ApiError, or a bug: either way the caller gets a code, not a crash
            code, message = call.failed(exc)
            await context.abort(code, message)
            raise  # abort raises; this line only satisfies the type checker
        except asyncio.CancelledError:  # grpc.aio cancels the handler when the caller's deadline passes or it leaves
            call.ended_early(context.time_remaining())
            raise
        finally:
            call.record()


class AsyncHealthServicer(health_pb2_grpc.HealthServicer):
    """grpc.health.v1 ``Check``: serving while it answers (``Watch`` is not offered)."""

    async def Check(self, request: health_pb2.HealthCheckRequest,
                    context: grpc.aio.ServicerContext) -> health_pb2.HealthCheckResponse:  # fmt: skip
        status = health_status(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)


class AsyncGrpcServer:
    """One grpc.aio server, started inside the running event loop (the worker's lifespan)."""

    def __init__(self, server: grpc.aio.Server, port: int) -> None:
        self._server = server
        self.port = port

    @classmethod
    async def start(cls, options: GrpcOptions, servicer: AsyncInferenceServicer) -> AsyncGrpcServer:
        """Serve ``servicer``, with health and reflection; a port that cannot be bound raises ``RuntimeError``."""
        server = grpc.aio.server(maximum_concurrent_rpcs=options.max_concurrent_rpcs, options=options.channel_args())
        register(server, servicer)
        health_pb2_grpc.add_HealthServicer_to_server(AsyncHealthServicer(), server)
        enable_reflection(server)
        port = server.add_insecure_port(options.address)
        await server.start()
        return cls(server, port)

    async def aclose(self, grace_s: float) -> None:
        """Refuse new calls, give those in flight ``grace_s`` to finish, then cancel them."""
        await self._server.stop(grace_s)


async def start_grpc(model: AsyncServedModel, settings: ModelSettings, protocol: ProtocolSettings,
                     stack: str) -> AsyncGrpcServer:  # fmt: skip
    """Start the worker's gRPC server over ``model`` in the running event loop."""
    return await AsyncGrpcServer.start(GrpcOptions.of(settings, protocol, stack),
                                       AsyncInferenceServicer(model, settings.name))  # fmt: skip
