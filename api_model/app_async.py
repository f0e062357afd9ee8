"""The async model service: FastAPI, the simulated wait as ``await asyncio.sleep``, the ONNX model inline or in a
bounded thread pool, micro-batching on the event loop; the Open Inference Protocol over REST beside the study's
route, and over gRPC (grpc.aio) in the same event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_model.batcher_async import AsyncBatcher
from api_model.batching import batch_policy, prior_cost_s
from api_model.core import ModelCore
from api_model.description import describe
from api_model.grpc_async import start_grpc
from api_model.inference_async import AsyncInference
from api_model.oip_routes_async import add_oip_routes
from api_model.payloads import parse_predict_body, prediction_body
from api_model.settings import ModelSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_async import json_response, read_body, request_context, service_app


def create_app(settings: ModelSettings | None = None, server: ServerSettings | None = None) -> FastAPI:
    """Build the async model service for one model."""
    settings = settings or ModelSettings()
    server = server or ServerSettings()
    core = ModelCore.load(settings)
    model = core.model
    inference = AsyncInference(core, settings)
    batcher = None
    if settings.batching():
        batcher = AsyncBatcher(batch_policy(settings, "async"), inference.run, prior_cost_s(settings), server.name)
    predictor = batcher or inference

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rpc = await start_grpc(core, settings, server) if settings.grpc else None
        try:
            yield
        finally:
            if rpc is not None:
                await rpc.aclose(settings.grpc_grace_s)
            if batcher is not None:
                await batcher.aclose()
            await inference.aclose()

    app = service_app(describe(model, settings, server, "async"), lifespan=lifespan)

    @app.post(predict_path("async"))
    async def predict(request: Request) -> Response:
        ctx = request_context(request)
        vector = parse_predict_body(await read_body(request, settings.max_body_bytes))
        with ctx.stages.stage("inference"):
            prediction = await predictor.predict(vector, ctx.deadline)
        return json_response(prediction_body(model, prediction), stages=ctx.stages)

    add_oip_routes(app, core, inference, settings.max_body_bytes)
    return app
