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


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None) -> FastAPI:
    """Build the async scoring service; its clients live as long as the worker's event loop."""
    settings = settings or ScoringSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, ScoringResources]]:
        resources = await ScoringResources.open(settings)
        try:
            yield {"resources": resources}
        finally:
            await resources.aclose()

    def resources_of(request: Request) -> ScoringResources:
        return request.state.resources

    app = FastAPI(title="scoring (async)", lifespan=lifespan, telemetry=NO_TELEMETRY)
    policy = service_policy(server or ServerSettings(), "async", deadline_s=settings.deadline_s)
    app.add_middleware(ServiceMiddleware, policy=policy)
    install_error_handlers(app)
    add_probes(app, readiness=lambda request: resources_of(request).readiness())
    add_profiling(app, service="scoring")

    @app.post(predict_path("async"), **SCORE_DOC)
    async def score(request: Request) -> Response:
        resources, ctx = resources_of(request), request_context(request)
        body = parse_score_body(await read_body(request, settings.max_body_bytes))
        features = body.features or await resources.features.get(body.entity_id, ctx)
        outcome = await resources.models.predict_both(features, ctx)
        return json_response(combine(body.entity_id, outcome), stages=ctx.stages)

    return app
