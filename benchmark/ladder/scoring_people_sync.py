"""The people rung's sync scoring service: Flask as its tutorials teach, ``requests.post`` for each model call (no
session) and redis-py at module level; the models are called one after the other.

No timeouts but the libraries' own (requests: none; redis-py: 5 s socket timeouts, its default retries), no
admission, no metrics. A body that is not valid gets Flask's own 400 or 415, or a 500 (pydantic's
``ValidationError``, unhandled); an unknown entity Flask's 404; a model or Redis that fails, a 500.
"""

from __future__ import annotations

import redis
import requests
from flask import Blueprint, Flask, Response, abort, request

from reference.api import HEALTH_PATH, Prediction, ScoreRequest, combine, predict_path
from reference.core import FEATURE_NAMES, entity_key
from reference.settings import ScoringSettings

STACK = "sync"
settings = ScoringSettings()
store = redis.Redis.from_url(settings.redis_url, password=settings.redis_password_value())
models = settings.models(STACK)  # name -> predict URL
bp = Blueprint("scoring", __name__)


def call_model(url: str, features: list[float]) -> Prediction:
    """One model's prediction."""
    response = requests.post(url, json={"features": features})
    response.raise_for_status()
    return Prediction.model_validate(response.json())


@bp.post(predict_path(STACK))
def predict() -> Response:
    """Score an entity from its stored features (or the features given) with each model in turn, and combine them."""
    body = ScoreRequest.model_validate(request.get_json())
    features = body.features
    if features is None:
        values = store.hmget(entity_key(body.entity_id), FEATURE_NAMES)
        if None in values:
            abort(404)
        features = [float(value) for value in values]
    predictions = [(name, call_model(url, features)) for name, url in models.items()]
    score = combine(body.entity_id, predictions)
    return Response(score.model_dump_json(), mimetype="application/json")


@bp.get(HEALTH_PATH)
def healthcheck() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "OK"}


def create_app() -> Flask:
    """The app gunicorn's sync workers serve: ``gunicorn 'benchmark.ladder.scoring_people_sync:create_app()'``."""
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
