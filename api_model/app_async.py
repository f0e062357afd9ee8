"""The async model service: FastAPI, the simulated wait as ``await asyncio.sleep``; the Open Inference Protocol
over REST beside the study's route, and over gRPC (grpc.aio) in the same event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_model.core import ModelCore
from api_model.description import describe
from api_model.grpc_async import start_grpc
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rpc = await start_grpc(core, settings, server) if settings.grpc else None
        try:
            yield
        finally:
            if rpc is not None:
                await rpc.aclose(settings.grpc_grace_s)

    app = service_app(describe(model, settings, server, "async"), lifespan=lifespan)

    @app.post(predict_path("async"))
    async def predict(request: Request) -> Response:
        ctx = request_context(request)
        vector = parse_predict_body(await read_body(request, settings.max_body_bytes))
        with ctx.stages.stage("inference"):
            await asyncio.sleep(core.wait_s())
            prediction = core.predict(vector)
        return json_response(prediction_body(model, prediction), stages=ctx.stages)

    add_oip_routes(app, core, settings.max_body_bytes)
    return app
