"""The bare rung's sync model service: the reference's blueprint and simulated model, without its service hooks."""

from __future__ import annotations

import math

from flask_openapi3 import OpenAPI

from benchmark.ladder.bare_sync import bare_app
from reference.core import LogisticModel, SimulatedCost
from reference.model_sync import STACK, SimulatedModel, bp
from reference.settings import ModelCostSettings, ModelSettings


def create_app() -> OpenAPI:
    """The app gunicorn's threaded workers serve: ``benchmark.ladder.model_bare_sync:create_app()``."""
    settings = ModelSettings()
    model = SimulatedModel(LogisticModel.load(settings.model), SimulatedCost(**ModelCostSettings().model_dump()))
    app = bare_app(f"{model.name} ({STACK})", model.version, math.inf)  # a model call has no deadline
    app.extensions["model"] = model
    app.register_api(bp)
    return app
