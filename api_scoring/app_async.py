"""The async scoring service: FastAPI, redis.asyncio, aiohttp, both models called concurrently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_scoring.description import describe
from api_scoring.payloads import combine, parse_score_body
from api_scoring.resources_async import AsyncScoringResources
from api_scoring.settings import ScoringSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_async import json_response, read_body, request_context, service_app


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None) -> FastAPI:
    """Build the async scoring service; its clients live as long as the worker's event loop."""
    settings = settings or ScoringSettings()
    server = server or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, AsyncScoringResources]]:
        resources = await AsyncScoringResources.open(settings, server)
        try:
            yield {"resources": resources}
        finally:
            await resources.aclose()

    def resources_of(request: Request) -> AsyncScoringResources:
        return request.state.resources

    app = service_app(
        describe(settings, server, "async"),
        lifespan=lifespan,
        readiness=lambda request: resources_of(request).readiness(),
    )

    @app.post(predict_path("async"))
    async def score(request: Request) -> Response:
        resources, ctx = resources_of(request), request_context(request)
        body = parse_score_body(await read_body(request, settings.max_body_bytes))
        features = body.features or await resources.features.get(body.entity_id, ctx)
        outcome = await resources.models.predict_both(features, ctx)
        return json_response(combine(body.entity_id, outcome), stages=ctx.stages)

    return app
