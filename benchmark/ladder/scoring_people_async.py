"""The people rung's async scoring service: FastAPI as its tutorials teach, httpx and redis.asyncio on their
defaults, both models at once with ``asyncio.gather``.

No timeouts but the libraries' own (httpx: 5 s for each phase of a call; redis.asyncio: 5 s socket timeouts, its
default retries), no admission, no metrics. Bad input gets FastAPI's own 422; an unknown entity a 404
(``{"detail": "entity not found"}``); a model or Redis that fails, a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import redis.asyncio
from fastapi import APIRouter, FastAPI, HTTPException

from reference.api import HEALTH_PATH, Prediction, Score, ScoreRequest, combine, predict_path
from reference.core import FEATURE_NAMES, entity_key
from reference.settings import ScoringSettings

STACK = "async"
# The worker's clients, filled by the lifespan (FastAPI's docs keep their models in such a dict).
clients: dict[str, Any] = {}
router = APIRouter()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the worker's clients with their defaults, and close them when it stops."""
    settings = ScoringSettings()
    clients["models"] = settings.models(STACK)
    clients["redis"] = redis.asyncio.Redis.from_url(settings.redis_url, password=settings.redis_password_value())
    async with httpx.AsyncClient() as http:
        clients["http"] = http
        yield
    await clients["redis"].aclose()
    clients.clear()


async def call_model(url: str, features: list[float]) -> Prediction:
    """One model's prediction."""
    response = await clients["http"].post(url, json={"features": features})
    response.raise_for_status()
    return Prediction.model_validate(response.json())


@router.post(predict_path(STACK))
async def predict(body: ScoreRequest) -> Score:
    """Score an entity from its stored features (or the features given) with both models, and combine them."""
    features = body.features
    if features is None:
        values = await clients["redis"].hmget(entity_key(body.entity_id), FEATURE_NAMES)
        if None in values:
            raise HTTPException(status_code=404, detail="entity not found")
        features = [float(value) for value in values]
    models = clients["models"]
    predictions = await asyncio.gather(*(call_model(url, features) for url in models.values()))
    return combine(body.entity_id, list(zip(models, predictions, strict=True)))


@router.get(HEALTH_PATH)
async def healthcheck() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "OK"}


def create_app() -> FastAPI:
    """The app each uvicorn worker builds: ``uvicorn --factory benchmark.ladder.scoring_people_async:create_app``."""
    app = FastAPI(lifespan=lifespan)
    app.include_router(router)
    return app
