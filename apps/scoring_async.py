"""The async scoring service as make up runs it: the reference's, with job mode, and the lab's transports to the
models (the Open Inference Protocol over REST or gRPC)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from apps.profiling_async import add_profiling
from inference_protocol.clients_async import open_transport
from inference_protocol.settings import TransportSettings
from job_queue.client_async import AsyncJobClient
from job_queue.routes_async import jobs_router
from job_queue.settings import JobSettings
from reference import scoring_async
from reference.api import predict_path
from reference.service import Service
from reference.settings import ScoringSettings
from reference.web_async import service_app

STACK = "async"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """The reference's clients, the models over the chosen transport, and the job queue's client."""
    settings: ScoringSettings = app.state.settings
    async with AsyncExitStack() as stack, scoring_async.lifespan(app) as state:
        models = await stack.enter_async_context(open_transport(settings, TransportSettings(), state["models"]))
        jobs = AsyncJobClient(JobSettings(), STACK, settings.pool(STACK))
        stack.push_async_callback(jobs.aclose)
        yield state | {"models": models, "jobs": jobs}


def create_app() -> FastAPI:
    """``apps.scoring_async:create_app()``."""
    settings = ScoringSettings()
    upstreams = ["redis", *settings.models(STACK)]
    service = Service.of(settings, STACK, [predict_path(STACK)], settings.deadline_s, upstreams)
    app = service_app(service, f"scoring ({STACK})", scoring_async.VERSION, settings.max_body_bytes, lifespan,
                      scoring_async.readiness)  # fmt: skip
    app.state.settings = settings
    app.include_router(scoring_async.router)
    app.include_router(jobs_router(STACK))
    add_profiling(app, "scoring", STACK)
    return app
