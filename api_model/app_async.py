"""The async model service: FastAPI, the simulated wait as ``await asyncio.sleep``."""

from __future__ import annotations

import asyncio
import random

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_model.cost import InferenceCost
from api_model.model import load_model
from api_model.openapi import PREDICT_DOC
from api_model.payloads import parse_predict_body, prediction_body
from api_model.settings import ModelSettings
from common.policy import service_policy
from common.profiling_async import add_profiling
from common.routes import predict_path
from common.server_settings import ServerSettings
from common.web_async import (
    NO_TELEMETRY,
    ServiceMiddleware,
    add_probes,
    install_error_handlers,
    json_response,
    read_body,
    request_context,
)


def create_app(settings: ModelSettings | None = None, server: ServerSettings | None = None) -> FastAPI:
    """Build the async model service for one model."""
    settings = settings or ModelSettings()
    model = load_model(settings.artifact_file())
    cost = InferenceCost(settings.wait_min_ms, settings.wait_max_ms, settings.cpu_ms, random.Random())
    app = FastAPI(title=f"{model.name} (async)", version=model.version, telemetry=NO_TELEMETRY)
    app.add_middleware(ServiceMiddleware, policy=service_policy(server or ServerSettings(), "async"))
    install_error_handlers(app)
    add_probes(app)
    add_profiling(app, service=settings.name)

    @app.post(predict_path("async"), **PREDICT_DOC)
    async def predict(request: Request) -> Response:
        ctx = request_context(request)
        vector = parse_predict_body(await read_body(request, settings.max_body_bytes))
        with ctx.stages.stage("inference"):
            await asyncio.sleep(cost.wait_s())
            cost.burn_cpu()
            prediction = model.predict(vector)
        return json_response(prediction_body(model, prediction), stages=ctx.stages)

    return app
