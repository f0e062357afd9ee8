"""The async scoring service's job routes (FastAPI): submit, read, cancel."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_scoring.jobs import location, submission
from job_queue.client_async import AsyncJobClient
from job_queue.schema import IDEMPOTENCY_HEADER
from service_runtime.core.topology import Stack, job_path, jobs_path
from service_runtime.web.service_async import json_response, read_body, request_context


def add_job_routes(
    app: FastAPI, stack: Stack, max_body_bytes: int, jobs_of: Callable[[Request], AsyncJobClient]
) -> None:
    """``POST .../jobs`` (202 and a Location), ``GET`` and ``DELETE .../jobs/{job_id}``."""

    @app.post(jobs_path(stack))
    async def submit_job(request: Request) -> Response:
        ctx = request_context(request)
        job = submission(await read_body(request, max_body_bytes), request.headers.get(IDEMPOTENCY_HEADER), ctx)
        accepted = await jobs_of(request).submit(job, ctx)
        response = json_response(accepted.body(), 202, stages=ctx.stages)
        response.headers.update(location(stack, accepted.job_id))
        return response

    # One route for both methods: Starlette's 405 names the methods of the first route matching the path only.
    @app.api_route(job_path(stack), methods=["GET", "DELETE"])
    async def job(request: Request, job_id: str) -> Response:
        ctx, jobs = request_context(request), jobs_of(request)
        view = await (jobs.view(job_id, ctx) if request.method == "GET" else jobs.cancel(job_id, ctx))
        return json_response(view.body(), stages=ctx.stages)
