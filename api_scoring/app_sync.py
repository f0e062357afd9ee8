"""The sync scoring service: Flask, redis-py, requests, models called on a thread pool (or in sequence)."""

from __future__ import annotations

import atexit

from flask import Flask, Response, request

from api_scoring.payloads import combine, parse_score_body
from api_scoring.resources import ScoringResources
from api_scoring.settings import ScoringSettings
from common.profiling_sync import add_profiling
from common.routes import predict_path
from common.server_settings import ServerSettings
from common.timing import Stages
from common.web_sync import add_healthcheck, install_error_handlers, json_response, read_body


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None) -> Flask:
    """Build the sync scoring service; gunicorn calls this in each worker after fork, so clients are per worker."""
    settings = settings or ScoringSettings()
    resources = ScoringResources.open(settings, server or ServerSettings())
    atexit.register(resources.close)
    app = Flask(__name__)
    install_error_handlers(app)
    add_healthcheck(app)
    add_profiling(app, service="scoring")

    @app.post(predict_path("sync"))
    def score() -> Response:
        stages = Stages()
        body = parse_score_body(read_body(request, settings.max_body_bytes))
        features = body.features or resources.features.get(body.entity_id, stages)
        predictions = resources.models.predict_both(features, stages)
        return json_response(combine(body.entity_id, predictions), stages=stages)

    return app
