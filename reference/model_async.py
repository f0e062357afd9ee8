"""The async model service: FastAPI; the model's wait is awaited, so one worker holds many predictions at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request

from reference.api import COMMON_ERRORS, Prediction, PredictRequest, predict_path
from reference.core import LogisticModel, SimulatedCost, Vector
from reference.service import RequestContext, Service
from reference.settings import ModelCostSettings, ModelSettings
from reference.web_async import Context, documented, service_app

STACK = "async"


class AsyncPredictor(Protocol):
    """What the route calls: this module's simulated model, or any other with its name, version and ``predict``."""

    name: str
    version: str

    async def predict(self, vector: Vector, ctx: RequestContext) -> float: ...


@dataclass
class AsyncSimulatedModel:
    """The logistic model behind a simulated accelerator: an awaited wait, then the CPU a prediction holds."""

    model: LogisticModel
    cost: SimulatedCost = field(default_factory=SimulatedCost)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version

    async def predict(self, vector: Vector, ctx: RequestContext) -> float:
        """One prediction, after the accelerator's wait; other requests run meanwhile."""
        await asyncio.sleep(self.cost.wait_s())
        self.cost.burn_cpu()
        return self.model.predict(vector)


async def get_model(request: Request) -> AsyncPredictor:
    return request.app.state.model


Model = Annotated[AsyncPredictor, Depends(get_model)]
router = APIRouter(tags=["model"])


@router.post(predict_path(STACK), responses=documented(COMMON_ERRORS))
async def predict(body: PredictRequest, model: Model, ctx: Context) -> Prediction:
    """The model's prediction for one feature vector."""
    with ctx.stages.stage("inference"):
        prediction = await model.predict(tuple(body.features), ctx)
    return Prediction(model=model.name, version=model.version, prediction=prediction)


def create_app(settings: ModelSettings | None = None) -> FastAPI:
    """The app gunicorn's uvicorn workers serve: ``reference.model_async:create_app()``."""
    settings = settings or ModelSettings()
    cost = ModelCostSettings()
    model = AsyncSimulatedModel(LogisticModel.load(settings.model), SimulatedCost(**cost.model_dump()))
    service = Service.of(settings, STACK, [predict_path(STACK)])
    app = service_app(service, f"{model.name} ({STACK})", model.version, settings.max_body_bytes)
    app.state.model = model
    app.include_router(router)
    return app
