"""The bare rung's async model service: the reference's router and simulated model, without its middleware."""

from __future__ import annotations

import math

from fastapi import FastAPI

from benchmark.ladder.bare_async import bare_app
from reference.core import LogisticModel, SimulatedCost
from reference.model_async import STACK, AsyncSimulatedModel, router
from reference.settings import ModelCostSettings, ModelSettings


def create_app() -> FastAPI:
    """The app gunicorn's uvicorn workers serve: ``benchmark.ladder.model_bare_async:create_app()``."""
    settings = ModelSettings()
    model = AsyncSimulatedModel(LogisticModel.load(settings.model), SimulatedCost(**ModelCostSettings().model_dump()))
    app = bare_app(router, f"{model.name} ({STACK})", model.version, math.inf)  # a model call has no deadline
    app.state.model = model
    return app
