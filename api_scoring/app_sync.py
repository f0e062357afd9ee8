"""The sync scoring service: Flask, redis-py, requests, models called on a thread pool (or in sequence)."""

from __future__ import annotations

import atexit

from flask import Flask, Response, request

from api_scoring import app_async
from api_scoring.payloads import combine, parse_score_body
from api_scoring.resources import ScoringResources
from api_scoring.settings import ScoringSettings
from common.docs_sync import add_docs, sync_spec
from common.policy import service_policy
from common.profiling_sync import add_profiling
from common.routes import predict_path
from common.server_settings import ServerSettings
from common.web_sync import (
    add_probes,
    install_error_handlers,
    install_middleware,
    json_response,
    read_body,
    request_context,
)


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None) -> Flask:
    """Build the sync scoring service; gunicorn calls this in each worker after fork, so clients are per worker."""
    settings = settings or ScoringSettings()
    server = server or ServerSettings()
    resources = ScoringResources.open(settings, server)
    atexit.register(resources.close)
    app = Flask(__name__)
    install_middleware(app, service_policy(server, "sync", deadline_s=settings.deadline_s))
    install_error_handlers(app)
    add_probes(app, readiness=resources.readiness)
    add_docs(app, sync_spec(lambda: app_async.create_app(settings, server), "scoring (sync)"))
    add_profiling(app, service="scoring")

    @app.post(predict_path("sync"))
    def score() -> Response:
        ctx = request_context()
        body = parse_score_body(read_body(request, settings.max_body_bytes))
        features = body.features or resources.features.get(body.entity_id, ctx)
        outcome = resources.models.predict_both(features, ctx)
        return json_response(combine(body.entity_id, outcome), stages=ctx.stages)

    return app
