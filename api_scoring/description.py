"""The scoring service described without a web framework: its OpenAPI document and its middleware policy."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api_scoring.settings import ScoringSettings
from feature_store.schema import ENTITY_ID_MAX_LENGTH, FEATURES_JSON_SCHEMA
from job_queue.record import JobStatus
from job_queue.schema import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN, JOB_ID_PATTERN
from service_runtime.core.openapi import (
    ERROR_RESPONSES,
    ErrorBody,
    Operation,
    document,
    header_parameter,
    path_parameter,
    probe_operations,
    request_body,
)
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import Stack, job_path, jobs_path, predict_path
from service_runtime.web.service import Service, service_policy

VERSION = "1.0.0"


class ModelAnswer(BaseModel):
    """One model's prediction and identity."""

    name: str
    version: str
    prediction: float


class Score(BaseModel):
    """The combined score."""

    entity_id: str | None = Field(description="The entity scored; null when features were given directly.")
    score: float = Field(description="Mean of the models' predictions.")
    detail: float = Field(description="The score again, under the original study's field name.")
    models: list[ModelAnswer]
    degraded: list[str] = Field(description="Models that failed and were left out of the score; empty normally.")


class JobAccepted(BaseModel):
    """A submitted job (or, for a resubmission with the same Idempotency-Key, the job it already made)."""

    job_id: str = Field(description="Where to read it: GET .../jobs/{job_id} (the Location header).")
    status: JobStatus = Field(description="queued when new; a resubmission gets the job's current status.")


class JobView(BaseModel):
    """A job's status, and its end once it has one."""

    job_id: str
    status: JobStatus
    result: Score | None = Field(description="Once done: the predict route's answer for the same body, byte for "
                                 "byte; else null.")  # fmt: skip
    error: ErrorBody | None = Field(description="Once failed: what went wrong, in the error shape; else null.")


ENTITY_SCHEMA = {
    "type": "object",
    "properties": {
        "entity_id": {
            "type": "string",
            "pattern": f"^[A-Za-z0-9_-]{{1,{ENTITY_ID_MAX_LENGTH}}}$",
            "example": "42",
        }
    },
    "required": ["entity_id"],
    "additionalProperties": False,
}


def score_operation(stack: Stack) -> Operation:
    """The scoring route: ``{"entity_id": "..."}``, or the original study's bare list of features."""
    errors = ERROR_RESPONSES | {
        404: "Unknown entity",
        503: "Overloaded, deadline passed, or Redis or both models unavailable",
    }
    return Operation(
        "post", predict_path(stack), "Score an entity (or a feature vector)", "score", response=Score,
        request=request_body(ENTITY_SCHEMA, FEATURES_JSON_SCHEMA), errors=errors,
    )  # fmt: skip


def job_operations(stack: Stack) -> list[Operation]:
    """Job mode: submit a predict body now (202 and a job id), read its result later, cancel it while queued."""
    job_id = path_parameter("job_id", JOB_ID_PATTERN, "The job id a submission answered.")
    idempotency = header_parameter(
        IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN,
        "Resubmitting with the same key (and body) returns the same job instead of a new one.",
    )  # fmt: skip
    unavailable = {503: "Queue full (Retry-After), overloaded, or the queue's Redis unavailable"}
    return [
        Operation(
            "post", jobs_path(stack), "Submit a scoring job: the predict body; the result is read later", "submit_job",
            response=JobAccepted, status=202, request=request_body(ENTITY_SCHEMA, FEATURES_JSON_SCHEMA),
            errors=ERROR_RESPONSES | {409: "The Idempotency-Key was used for another body"} | unavailable,
            tags=("jobs",), parameters=(idempotency,), headers={"Location": "The job's URL."},
        ),
        Operation(
            "get", job_path(stack), "A job's status, and its result or error once it has ended", "get_job",
            response=JobView, errors={404: "Unknown job, or its result expired", **unavailable}, tags=("jobs",),
            parameters=(job_id,),
        ),
        Operation(
            "delete", job_path(stack), "Cancel a job that has not started", "cancel_job", response=JobView,
            errors={404: "Unknown job, or its result expired", 409: "The job has started or ended: not cancelled",
                    **unavailable}, tags=("jobs",), parameters=(job_id,),
        ),
    ]  # fmt: skip


def describe(settings: ScoringSettings, server: ServerSettings, stack: Stack) -> Service:
    """The scoring service of ``stack``: the same document on both stacks but for the stack in its paths."""
    operations = [*probe_operations(), score_operation(stack), *job_operations(stack)]
    return Service(
        name="scoring",
        stack=stack,
        policy=service_policy(
            server, stack, deadline_s=settings.deadline_s, routes=[jobs_path(stack), job_path(stack)]
        ),
        openapi=document(f"scoring ({stack})", VERSION, operations),
    )
