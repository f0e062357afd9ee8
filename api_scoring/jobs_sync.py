"""The sync scoring service's job routes (Flask): submit, read, cancel."""

from __future__ import annotations

from flask import Flask, Response, request

from api_scoring.jobs import location, submission
from job_queue.client_sync import JobClient
from job_queue.schema import IDEMPOTENCY_HEADER
from service_runtime.core.topology import Stack, job_path, jobs_path
from service_runtime.web.service_sync import json_response, read_body, request_context


def add_job_routes(app: Flask, stack: Stack, max_body_bytes: int, jobs: JobClient) -> None:
    """``POST .../jobs`` (202 and a Location), ``GET`` and ``DELETE .../jobs/<job_id>``."""

    @app.post(jobs_path(stack))
    def submit_job() -> Response:
        ctx = request_context()
        job = submission(read_body(request, max_body_bytes), request.headers.get(IDEMPOTENCY_HEADER), ctx)
        accepted = jobs.submit(job, ctx)
        response = json_response(accepted.body(), 202, stages=ctx.stages)
        response.headers.update(location(stack, accepted.job_id))
        return response

    @app.get(job_path(stack, "<job_id>"))
    def get_job(job_id: str) -> Response:
        ctx = request_context()
        return json_response(jobs.view(job_id, ctx).body(), stages=ctx.stages)

    @app.delete(job_path(stack, "<job_id>"))
    def cancel_job(job_id: str) -> Response:
        ctx = request_context()
        return json_response(jobs.cancel(job_id, ctx).body(), stages=ctx.stages)
