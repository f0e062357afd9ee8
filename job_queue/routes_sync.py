"""The sync scoring service's job routes (Flask): submit a predict body, read its job, cancel it."""

from __future__ import annotations

from flask import Response, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from job_queue.api import (
    CANCEL_ERRORS,
    IDEMPOTENCY_DESCRIPTION,
    IDEMPOTENCY_SCHEMA,
    JOB_ID_DESCRIPTION,
    LOCATION,
    READ_ERRORS,
    SUBMIT_ERRORS,
    JobAccepted,
    JobView,
    job_path,
    jobs_path,
)
from job_queue.client_sync import JobClient
from job_queue.errors import QueueFull
from job_queue.record import Submission
from job_queue.schema import IDEMPOTENCY_HEADER
from reference.api import ScoreRequest
from reference.web_sync import documented, error_response, get_context

JSON = "application/json"


class JobPath(BaseModel):
    """The job a route reads or cancels."""

    job_id: str = Field(description=JOB_ID_DESCRIPTION)


class SubmitHeaders(BaseModel):
    """A submission's own header."""

    idempotency_key: str | None = Field(None, alias=IDEMPOTENCY_HEADER, description=IDEMPOTENCY_DESCRIPTION,
                                        json_schema_extra=IDEMPOTENCY_SCHEMA)  # fmt: skip


def jobs_blueprint(stack: str) -> APIBlueprint:
    """``POST .../jobs`` (202 and a Location), ``GET`` and ``DELETE .../jobs/<job_id>`` of ``stack``."""
    bp = APIBlueprint("jobs", __name__, abp_tags=[Tag(name="jobs")])

    @bp.post(jobs_path(stack), responses={202: JobAccepted, **documented(SUBMIT_ERRORS)})
    def submit_job(body: ScoreRequest, header: SubmitHeaders) -> Response:
        """Submit a scoring job: the predict body, checked as the predict route checks it; its result is read
        later, at the Location answered."""
        submission = Submission.of(body, header.idempotency_key)
        try:
            accepted = jobs().submit(submission, get_context())
        except QueueFull as full:
            return error_response(full, full.headers)  # an ApiError's answer carries no headers: Retry-After here
        return Response(accepted.model_dump_json(), 202, {LOCATION: job_path(stack, accepted.job_id)}, mimetype=JSON)

    @bp.get(job_path(stack, "<job_id>"), responses={200: JobView, **documented(READ_ERRORS)})
    def get_job(path: JobPath) -> Response:
        """A job's status, and its result or error once it has ended."""
        return Response(jobs().view(path.job_id, get_context()).model_dump_json(), mimetype=JSON)

    @bp.delete(job_path(stack, "<job_id>"), responses={200: JobView, **documented(CANCEL_ERRORS)})
    def cancel_job(path: JobPath) -> Response:
        """Cancel a job that has not started."""
        return Response(jobs().cancel(path.job_id, get_context()).model_dump_json(), mimetype=JSON)

    return bp


def jobs() -> JobClient:
    """This worker's job client (the app factory puts it in ``extensions["jobs"]``)."""
    return current_app.extensions["jobs"]
