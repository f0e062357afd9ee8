"""Job mode's wire contract: its paths, and the pydantic models that document and encode its answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from job_queue.schema import IDEMPOTENCY_KEY_PATTERN, JOB_ID_PATTERN
from reference.api import COMMON_ERRORS, ErrorBody, Score
from reference.core import ApiError

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
LOCATION = "Location"
LOCATION_HEADER = {LOCATION: {"description": "The job's URL.", "schema": {"type": "string"}}}


def jobs_path(stack: str) -> str:
    """Where a scoring service takes jobs: ``/api/v1/ml/async/jobs``, ``/api/v1/ml/sync/jobs``."""
    return f"/api/v1/ml/{stack}/jobs"


def job_path(stack: str, job_id: str) -> str:
    """One job of a scoring service (``job_id`` may be a route's placeholder, ``{job_id}`` or ``<job_id>``)."""
    return f"{jobs_path(stack)}/{job_id}"


class JobAccepted(BaseModel):
    """A submitted job (or, for a resubmission with the same Idempotency-Key, the job it already made)."""

    # flask-openapi3 documents an answer's headers from its model's config (FastAPI from the route's responses).
    model_config = ConfigDict(openapi_extra={"headers": LOCATION_HEADER})

    job_id: str = Field(description="Where to read it: GET .../jobs/{job_id} (the Location header).")
    status: JobStatus = Field(description="queued when new; a resubmission gets the job's current status.")


class JobView(BaseModel):
    """A job's status, and its end once it has one."""

    job_id: str
    status: JobStatus
    result: Score | None = Field(
        description="Once done: the predict route's answer for the same body, byte for byte; else null."
    )
    error: ErrorBody | None = Field(description="Once failed: what went wrong, in the error shape; else null.")

    @classmethod
    def of_record(cls, job_id: str, status: bytes, result: bytes | None, error: bytes | None) -> JobView:
        """A view from the record's ``status``, ``result`` and ``error`` fields (HMGET's values)."""
        state = status.decode()
        return cls(
            job_id=job_id,
            status=state,  # type: ignore[arg-type]
            result=Score.model_validate_json(result) if state == "done" and result is not None else None,
            error=ErrorBody.model_validate_json(error) if state == "failed" and error is not None else None,
        )


def error_json(error: ApiError) -> bytes:
    """An error's body as a job's record stores it."""
    return ErrorBody.model_validate(error.body()).model_dump_json().encode()


# What the routes document, the same on both stacks.
JOB_ID_DESCRIPTION = f"The job id a submission answered ({JOB_ID_PATTERN})."
IDEMPOTENCY_DESCRIPTION = (
    f"Optional, {IDEMPOTENCY_KEY_PATTERN}: resubmitting with the same key (and body) returns the same job instead "
    "of a new one."
)
# The key's pattern in the header's schema, for the document only: the route checks it itself
# (schema.validate_idempotency_key), with the same 422 on both stacks, rather than with each framework's own.
IDEMPOTENCY_SCHEMA = {"pattern": IDEMPOTENCY_KEY_PATTERN}
SUBMIT_ERRORS: dict[int, str] = COMMON_ERRORS | {
    409: "The Idempotency-Key was used for another body",
    503: "Queue full (Retry-After), overloaded, or the queue's Redis unavailable",
}
READ_ERRORS: dict[int, str] = {
    404: "Unknown job, or its result expired (a malformed job id is unknown too)",
    422: "The request is not valid",
    503: "Overloaded, or the queue's Redis unavailable",
}
CANCEL_ERRORS: dict[int, str] = READ_ERRORS | {409: "The job has started or ended: not cancelled"}
