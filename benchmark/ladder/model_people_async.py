"""The people rung's async model service: FastAPI as its tutorials teach; the simulated wait is awaited.

A body that is not valid gets FastAPI's own 422.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI

from reference.api import HEALTH_PATH, Prediction, PredictRequest, predict_path
from reference.core import LogisticModel, SimulatedCost
from reference.settings import ModelCostSettings, ModelSettings

STACK = "async"
model = LogisticModel.load(ModelSettings().model)
cost = SimulatedCost(**ModelCostSettings().model_dump())
router = APIRouter()


@router.post(predict_path(STACK))
async def predict(body: PredictRequest) -> Prediction:
    """The model's prediction for one feature vector, after the simulated accelerator's wait."""
    await asyncio.sleep(cost.wait_s())
    cost.burn_cpu()
    return Prediction(model=model.name, version=model.version, prediction=model.predict(body.features))


@router.get(HEALTH_PATH)
async def healthcheck() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "OK"}


def create_app() -> FastAPI:
    """The app each uvicorn worker builds: ``uvicorn --factory benchmark.ladder.model_people_async:create_app``."""
    app = FastAPI()
    app.include_router(router)
    return app
