"""The sync scoring service: Flask, redis-py, urllib3, models called on a thread pool (or in sequence)."""

from __future__ import annotations

from flask import Flask, Response, request

from api_scoring.description import describe
from api_scoring.payloads import combine, parse_score_body
from api_scoring.resources_sync import ScoringResources
from api_scoring.settings import ScoringSettings
from service_runtime.core.lifecycle import on_worker_exit
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_sync import json_response, read_body, request_context, service_app


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None) -> Flask:
    """Build the sync scoring service; the server calls this in each worker after fork, so clients are per worker."""
    settings = settings or ScoringSettings()
    server = server or ServerSettings()
    resources = ScoringResources.open(settings, server)
    on_worker_exit(resources.close)
    app = service_app(describe(settings, server, "sync"), readiness=resources.readiness)

    @app.post(predict_path("sync"))
    def score() -> Response:
        ctx = request_context()
        body = parse_score_body(read_body(request, settings.max_body_bytes))
        features = body.features or resources.features.get(body.entity_id, ctx)
        outcome = resources.models.predict_both(features, ctx)
        return json_response(combine(body.entity_id, outcome), stages=ctx.stages)

    return app
