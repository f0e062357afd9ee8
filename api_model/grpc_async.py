"""``AsyncInferenceServicer``: the protocol over gRPC on the async stack (grpc.aio, the wait as ``asyncio.sleep``).

The server runs in the worker's own event loop, started and stopped by the app's lifespan: one process per
worker serves both transports with one model core, one set of metrics and one drain, and a separate process
would cost every model service another interpreter on cores the stacks share.
"""

from __future__ import annotations

import asyncio

import grpc

from api_model.core import ModelCore
from api_model.oip_grpc import SERVICE, InferenceAnswers, rpc_options
from api_model.settings import ModelSettings
from inference_protocol import inference_pb2 as pb
from inference_protocol import inference_pb2_grpc as pb_grpc
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import deadline_exceeded
from service_runtime.core.server_settings import ServerSettings
from service_runtime.rpc.server_async import AsyncRpcCalls, AsyncRpcServer


class AsyncInferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over one model core."""

    def __init__(self, core: ModelCore, service: str) -> None:
        self._core = core
        self._answers = InferenceAnswers(core)
        self._calls = AsyncRpcCalls(service)

    async def ServerLive(self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext):
        return await self._calls.answer("ServerLive", context, lambda ctx: self._answers.server_live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext):
        return await self._calls.answer("ServerReady", context, lambda ctx: self._answers.server_ready())

    async def ModelReady(self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext):
        return await self._calls.answer("ModelReady", context, lambda ctx: self._answers.model_ready(request))

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext):
        return await self._calls.answer("ServerMetadata", context, lambda ctx: self._answers.server_metadata())

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext):
        return await self._calls.answer("ModelMetadata", context, lambda ctx: self._answers.model_metadata(request))

    async def ModelInfer(self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext):
        async def infer(ctx: RequestContext) -> pb.ModelInferResponse:
            vectors = self._answers.infer_vectors(request)
            with ctx.stages.stage("inference"):
                wait, late = self._core.wait_within(ctx.deadline)  # the caller's deadline is the call's
                await asyncio.sleep(wait)
                if late:
                    raise deadline_exceeded()
                predictions = self._core.predict_rows(vectors)
            return self._answers.infer_response(request, predictions)

        return await self._calls.serve("ModelInfer", context, infer)


async def start_grpc(core: ModelCore, settings: ModelSettings, server: ServerSettings) -> AsyncRpcServer:
    """Start the worker's gRPC server in the running event loop."""
    servicer = AsyncInferenceServicer(core, server.name)
    return await AsyncRpcServer.start(
        rpc_options(settings, server, "async"),
        lambda grpc_server: pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, grpc_server),
        [SERVICE],
    )
