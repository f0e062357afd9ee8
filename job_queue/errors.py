"""The job routes' errors, in the reference's one error shape."""

from __future__ import annotations

from reference.core import ApiError


class QueueFull(ApiError):
    """A 503, at once, when the queue already holds its maximum of unfinished jobs; its answer says when to retry."""

    def __init__(self, max_queue: int, retry_after_s: int) -> None:
        super().__init__(503, "queue_full", f"the job queue holds its maximum of {max_queue} jobs; retry later",
                         max_queue=max_queue)  # fmt: skip
        self.headers = {"Retry-After": str(retry_after_s)}


def job_not_found(job_id: str) -> ApiError:
    """A 404 for a job id that is unknown, malformed or expired."""
    return ApiError(404, "job_not_found", "no such job: unknown, or its result has expired", job_id=job_id)


def job_not_cancellable(job_id: str, status: str) -> ApiError:
    """A 409 for cancelling a job that has started or ended: a running job finishes and is reported done."""
    return ApiError(409, "job_not_cancellable", f"the job is {status}: only a queued job can be cancelled",
                    job_id=job_id, job_status=status)  # fmt: skip


def idempotency_key_reused(job_id: str) -> ApiError:
    """A 409 for an idempotency key sent again with another body: it conflicts with the job the key made."""
    return ApiError(409, "idempotency_key_reused", "this Idempotency-Key was used for another request body",
                    job_id=job_id)  # fmt: skip


def job_queue_unavailable(reason: str) -> ApiError:
    """A 503 when the queue's Redis cannot be reached in time."""
    return ApiError(503, "job_queue_unavailable", f"job queue unavailable: {reason}", upstream=["redis"])


def attempts_exhausted(max_attempts: int) -> ApiError:
    """The failure of a job whose workers stopped before finishing it, ``max_attempts`` times."""
    return ApiError(503, "job_attempts_exhausted", f"the job was started {max_attempts} times and never finished",
                    upstream=["jobs_worker"])  # fmt: skip
