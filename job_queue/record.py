"""The job record, its states and what clients read of it, shared by both stacks.

A job's record is a Redis hash (``JobKeys.record``) with the fields

    status        queued | running | done | failed | cancelled
    body          the request body, as the scoring service will parse it (canonical JSON)
    digest        a digest of the body: a resubmission with the same idempotency key must match it
    trace         the submitter's traceparent, continued by the worker's model calls
    submitted_ms  when it was accepted (Redis' clock, ms since the epoch), then started_ms, finished_ms
    entry         the id of its stream entry (a job retried after an outage gets a new one)
    attempts      how many times a worker started it; worker: the consumer that did last
    result        once done: the scoring answer, the exact bytes the predict route answers
    error         once failed: the project's error shape; last_error: why the last attempt was retried
    idem          its idempotency key's Redis key, if it has one (expires with the record)

States: ``queued -> running -> done | failed``, ``queued -> cancelled``; ``running -> queued`` when an attempt
ends in an outage and is retried, ``running -> running`` when another worker reclaims it. Done, failed and
cancelled are final: the first result stored is the one every client reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
FINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})


def digest(body: bytes) -> str:
    """The digest of a request body that an idempotency key is bound to."""
    return hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Submission:
    """A job as the scoring service submits it: the body to score, and what identifies a retry of it."""

    body: bytes
    idempotency_key: str | None = None
    trace: str = ""

    @property
    def digest(self) -> str:
        """The body's digest."""
        return digest(self.body)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submission's answer: its job, and that job's status (``queued``, or more for an idempotent retry)."""

    job_id: str
    status: str
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        """The 202 answer's body."""
        return {"job_id": self.job_id, "status": self.status}


@dataclass(frozen=True, slots=True)
class JobView:
    """What a client reads of a job: its status, and its result or error once it has one."""

    job_id: str
    status: str
    result: bytes | None = None  # the scoring answer's exact bytes
    error: bytes | None = None  # the error shape's bytes

    def body(self) -> dict[str, Any]:
        """The answer's body; the stored result is embedded as it was stored, byte for byte."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "result": orjson.Fragment(self.result) if self.result is not None else None,
            "error": orjson.Fragment(self.error) if self.error is not None else None,
        }

    @classmethod
    def from_fields(cls, job_id: str, status: bytes, result: bytes | None, error: bytes | None) -> JobView:
        """A view from the record's ``status``, ``result`` and ``error`` fields (HMGET's values)."""
        state = status.decode()
        return cls(job_id, state, result if state == "done" else None, error if state == "failed" else None)


@dataclass(frozen=True, slots=True)
class Started:
    """A job a worker may now run: its body, its submitter's trace and which attempt this is."""

    body: bytes
    trace: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry a worker must not run: ``expired`` (its record is gone), ``stale`` (the job was retried under
    another entry), ``done``/``failed``/``cancelled`` (already final) or ``exhausted`` (failed now: too many
    attempts). The entry is acknowledged and deleted."""

    reason: str


@dataclass(frozen=True, slots=True)
class Finished:
    """What storing a job's end did: ``won`` if this was the first end stored, and how long after its
    submission (None when another end was stored first)."""

    won: bool
    waited_s: float | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue at one moment: jobs not finished, age of the oldest one's entry, entries delivered and not
    acknowledged."""

    depth: int
    oldest_age_s: float
    pending: int
