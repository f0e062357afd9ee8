"""The async scoring service: FastAPI, redis.asyncio and aiohttp; the models are called at once on one event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from reference.api import SCORE_ERRORS, Score, ScoreRequest, combine, predict_path
from reference.clients_async import AsyncFeatureReader, AsyncModelClient, fan_out, model_clients, open_session
from reference.service import RequestContext, Service
from reference.settings import ScoringSettings
from reference.web_async import Context, documented, service_app

STACK = "async"
VERSION = "1.0.0"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Open this worker's clients inside its event loop, and close them when it stops."""
    settings: ScoringSettings = app.state.settings
    features = AsyncFeatureReader(settings)
    async with open_session(settings) as session:
        log.info("worker clients opened")
        try:
            yield {"features": features, "models": model_clients(settings, session)}
        finally:
            await features.aclose()
            log.info("worker clients closed")


async def get_features(request: Request) -> AsyncFeatureReader:
    return request.state.features


async def get_models(request: Request) -> list[AsyncModelClient]:
    return request.state.models


Features = Annotated[AsyncFeatureReader, Depends(get_features)]
Models = Annotated[list[AsyncModelClient], Depends(get_models)]
router = APIRouter(tags=["scoring"])


async def score(body: ScoreRequest, features: AsyncFeatureReader, models: list[AsyncModelClient],
                ctx: RequestContext) -> Score:  # fmt: skip
    """The entity's stored features (or the vector given), every model at once, and their combination."""
    vector = tuple(body.features) if body.features else await features.get(body.entity_id, ctx)
    outcomes = await fan_out(models, vector, ctx)
    return combine(body.entity_id, [(model.name, outcome) for model, outcome in zip(models, outcomes, strict=True)])


@router.post(predict_path(STACK), responses=documented(SCORE_ERRORS))
async def predict(body: ScoreRequest, features: Features, models: Models, ctx: Context) -> Score:
    """Score an entity from its stored features (or a vector given whole) with every model, and combine them."""
    return await score(body, features, models, ctx)


async def readiness(request: Request) -> dict[str, str]:
    """The state of Redis and of every model."""
    features, models = request.state.features, request.state.models
    states = await asyncio.gather(features.check(), *(model.check() for model in models))
    return dict(zip(["redis", *(model.name for model in models)], states, strict=True))


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """The app gunicorn's uvicorn workers serve: ``reference.scoring_async:create_app()``."""
    settings = settings or ScoringSettings()
    upstreams = ["redis", *settings.models(STACK)]
    service = Service.of(settings, STACK, [predict_path(STACK)], settings.deadline_s, upstreams)
    app = service_app(service, f"scoring ({STACK})", VERSION, settings.max_body_bytes, lifespan, readiness)
    app.state.settings = settings
    app.include_router(router)
    return app
