"""The people rung's sync model service: Flask as its tutorials teach; the simulated wait blocks the worker.

A body that is not valid gets Flask's own 400 or 415, or a 500 (pydantic's ``ValidationError``, unhandled).
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, request

from reference.api import HEALTH_PATH, Prediction, PredictRequest, predict_path
from reference.core import LogisticModel, SimulatedCost
from reference.settings import ModelCostSettings, ModelSettings

STACK = "sync"
model = LogisticModel.load(ModelSettings().model)
cost = SimulatedCost(**ModelCostSettings().model_dump())
bp = Blueprint("model", __name__)


@bp.post(predict_path(STACK))
def predict() -> Response:
    """The model's prediction for one feature vector, after the simulated accelerator's wait."""
    body = PredictRequest.model_validate(request.get_json())
    time.sleep(cost.wait_s())
    cost.burn_cpu()
    answer = Prediction(model=model.name, version=model.version, prediction=model.predict(body.features))
    return Response(answer.model_dump_json(), mimetype="application/json")


@bp.get(HEALTH_PATH)
def healthcheck() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "OK"}


def create_app() -> Flask:
    """The app gunicorn's sync workers serve: ``gunicorn 'benchmark.ladder.model_people_sync:create_app()'``."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
