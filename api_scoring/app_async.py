"""The async scoring service: FastAPI, redis.asyncio, aiohttp, both models called concurrently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_scoring.openapi import SCORE_DOC
from api_scoring.payloads import combine, parse_score_body
from api_scoring.resources_async import ScoringResources
from api_scoring.settings import ScoringSettings
from common.profiling_async import add_profiling
from common.routes import predict_path
from common.timing import Stages
from common.web_async import add_healthcheck, install_error_handlers, json_response, read_body


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """Build the async scoring service; its clients live as long as the worker's event loop."""
    settings = settings or ScoringSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, ScoringResources]]:
        resources = await ScoringResources.open(settings)
        try:
            yield {"resources": resources}
        finally:
            await resources.aclose()

    app = FastAPI(title="scoring (async)", lifespan=lifespan)
    install_error_handlers(app)
    add_healthcheck(app)
    add_profiling(app, service="scoring")

    @app.post(predict_path("async"), **SCORE_DOC)
    async def score(request: Request) -> Response:
        resources: ScoringResources = request.state.resources
        stages = Stages()
        body = parse_score_body(await read_body(request, settings.max_body_bytes))
        features = body.features or await resources.features.get(body.entity_id, stages)
        predictions = await resources.models.predict_both(features, stages)
        return json_response(combine(body.entity_id, predictions), stages=stages)

    return app
