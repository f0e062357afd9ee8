"""The async scoring service's job routes (FastAPI): submit a predict body, read its job, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Request, Response

from job_queue.api import (
    CANCEL_ERRORS,
    IDEMPOTENCY_DESCRIPTION,
    IDEMPOTENCY_SCHEMA,
    JOB_ID_DESCRIPTION,
    LOCATION,
    LOCATION_HEADER,
    READ_ERRORS,
    SUBMIT_ERRORS,
    JobAccepted,
    JobView,
    job_path,
    jobs_path,
)
from job_queue.client_async import AsyncJobClient
from job_queue.errors import QueueFull
from job_queue.record import Submission
from job_queue.schema import IDEMPOTENCY_HEADER
from reference.api import ScoreRequest
from reference.web_async import Context, documented, error_response


async def get_jobs(request: Request) -> AsyncJobClient:
    return request.state.jobs


Jobs = Annotated[AsyncJobClient, Depends(get_jobs)]
JobId = Annotated[str, Path(description=JOB_ID_DESCRIPTION)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias=IDEMPOTENCY_HEADER, description=IDEMPOTENCY_DESCRIPTION, json_schema_extra=IDEMPOTENCY_SCHEMA),
]
ACCEPTED = {202: {"description": "Accepted", "headers": LOCATION_HEADER}}
OTHER_METHODS = ("HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def jobs_router(stack: str) -> APIRouter:
    """``POST .../jobs`` (202 and a Location), ``GET`` and ``DELETE .../jobs/{job_id}`` of ``stack``."""
    router = APIRouter(tags=["jobs"])

    @router.post(jobs_path(stack), status_code=202, response_model=JobAccepted,
                 responses=ACCEPTED | documented(SUBMIT_ERRORS))  # fmt: skip
    async def submit_job(
        body: ScoreRequest, jobs: Jobs, ctx: Context, response: Response, idempotency_key: IdempotencyKey = None
    ) -> JobAccepted | Response:
        """Submit a scoring job: the predict body, checked as the predict route checks it; its result is read
        later, at the Location answered."""
        submission = Submission.of(body, idempotency_key)
        try:
            accepted = await jobs.submit(submission, ctx)
        except QueueFull as full:
            return error_response(full, full.headers)  # an ApiError's answer carries no headers: Retry-After here
        response.headers[LOCATION] = job_path(stack, accepted.job_id)
        return accepted

    @router.get(job_path(stack, "{job_id}"), responses=documented(READ_ERRORS))
    async def get_job(job_id: JobId, jobs: Jobs, ctx: Context) -> JobView:
        """A job's status, and its result or error once it has ended."""
        return await jobs.view(job_id, ctx)

    @router.delete(job_path(stack, "{job_id}"), responses=documented(CANCEL_ERRORS))
    async def cancel_job(job_id: JobId, jobs: Jobs, ctx: Context) -> JobView:
        """Cancel a job that has not started."""
        return await jobs.cancel(job_id, ctx)

    @router.api_route(job_path(stack, "{job_id}"), methods=list(OTHER_METHODS), include_in_schema=False)
    async def other_method() -> None:
        """405 naming both methods of the path: Starlette's own would name those of its first route only."""
        raise HTTPException(405, headers={"Allow": "DELETE, GET"})

    return router
