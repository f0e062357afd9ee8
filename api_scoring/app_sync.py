"""The sync scoring service: Flask, redis-py, urllib3, models called on a thread pool (or in sequence)."""

from __future__ import annotations

from flask import Flask, Response, request

from api_scoring.description import describe
from api_scoring.jobs_sync import add_job_routes
from api_scoring.payloads import parse_score_body
from api_scoring.resources_sync import ScoringResources
from api_scoring.settings import ScoringSettings
from job_queue.client_sync import JobClient
from job_queue.settings import JobSettings
from service_runtime.core.lifecycle import on_worker_exit
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_sync import json_response, read_body, request_context, service_app


def create_app(settings: ScoringSettings | None = None, server: ServerSettings | None = None,
               jobs: JobSettings | None = None) -> Flask:  # fmt: skip
    """Build the sync scoring service; the server calls this in each worker after fork, so clients are per worker."""
    settings = settings or ScoringSettings()
    server = server or ServerSettings()
    concurrency = server.in_flight_limit()
    resources = ScoringResources.open(settings, concurrency)
    job_client = JobClient(jobs or JobSettings(), "sync", settings.redis_pool(concurrency))
    on_worker_exit(resources.close)
    on_worker_exit(job_client.close)
    app = service_app(describe(settings, server, "sync"), readiness=resources.readiness)

    @app.post(predict_path("sync"))
    def score() -> Response:
        ctx = request_context()
        body = parse_score_body(read_body(request, settings.max_body_bytes))
        return json_response(resources.score(body, ctx), stages=ctx.stages)

    add_job_routes(app, "sync", settings.max_body_bytes, job_client)
    return app
