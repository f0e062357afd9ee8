"""The sync model service: Flask; the model's wait blocks its thread, so a worker holds one prediction per thread."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from flask import Response, current_app
from flask_openapi3 import APIBlueprint, OpenAPI

from reference.api import COMMON_ERRORS, Prediction, PredictRequest, predict_path
from reference.core import LogisticModel, SimulatedCost, Vector
from reference.service import RequestContext, Service
from reference.settings import ModelCostSettings, ModelSettings
from reference.web_sync import documented, get_context, service_app

STACK = "sync"
bp = APIBlueprint("model", __name__)


class Predictor(Protocol):
    """What the route calls: this module's simulated model, or any other with its name, version and ``predict``."""

    name: str
    version: str

    def predict(self, vector: Vector, ctx: RequestContext) -> float: ...


@dataclass
class SimulatedModel:
    """The logistic model behind a simulated accelerator: a blocking wait, then the CPU a prediction holds."""

    model: LogisticModel
    cost: SimulatedCost = field(default_factory=SimulatedCost)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version

    def predict(self, vector: Vector, ctx: RequestContext) -> float:
        """One prediction, after the accelerator's wait; this thread serves nothing else meanwhile."""
        time.sleep(self.cost.wait_s())
        self.cost.burn_cpu()
        return self.model.predict(vector)


@bp.post(predict_path(STACK), responses={200: Prediction, **documented(COMMON_ERRORS)})
def predict(body: PredictRequest) -> Response:
    """The model's prediction for one feature vector."""
    ctx, model = get_context(), current_app.extensions["model"]
    with ctx.stages.stage("inference"):
        prediction = model.predict(tuple(body.features), ctx)
    answer = Prediction(model=model.name, version=model.version, prediction=prediction)
    return Response(answer.model_dump_json(), mimetype="application/json")


def create_app(settings: ModelSettings | None = None) -> OpenAPI:
    """The app gunicorn's threaded workers serve: ``reference.model_sync:create_app()``."""
    settings = settings or ModelSettings()
    cost = ModelCostSettings()
    model = SimulatedModel(LogisticModel.load(settings.model), SimulatedCost(**cost.model_dump()))
    service = Service.of(settings, STACK, [predict_path(STACK)])
    app = service_app(service, f"{model.name} ({STACK})", model.version, settings.max_body_bytes)
    app.extensions["model"] = model
    app.register_api(bp)
    return app
