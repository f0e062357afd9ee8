"""The async scoring service: FastAPI, redis.asyncio, aiohttp, both models called concurrently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_scoring.description import describe
from api_scoring.jobs_async import add_job_routes
from api_scoring.payloads import parse_score_body
from api_scoring.resources_async import AsyncScoringResources
from api_scoring.settings import ScoringSettings
from job_queue.client_async import AsyncJobClient
from job_queue.settings import JobSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_async import json_response, read_body, request_context, service_app


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None,
               jobs: JobSettings | None = None) -> FastAPI:  # fmt: skip
    """Build the async scoring service; its clients live as long as the worker's event loop."""
    settings = settings or ScoringSettings()
    server = server or ServerSettings()
    jobs = jobs or JobSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        concurrency = server.in_flight_limit()
        resources = await AsyncScoringResources.open(settings, concurrency)
        job_client = AsyncJobClient(jobs, "async", settings.redis_pool(concurrency))
        try:
            yield {"resources": resources, "jobs": job_client}
        finally:
            await job_client.aclose()
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
        ctx = request_context(request)
        body = parse_score_body(await read_body(request, settings.max_body_bytes))
        return json_response(await resources_of(request).score(body, ctx), stages=ctx.stages)

    add_job_routes(app, "async", settings.max_body_bytes, lambda request: request.state.jobs)
    return app
