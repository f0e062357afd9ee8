"""The job record, and what the clients and consumers exchange about it, shared by both stacks.

A job's record is a Redis hash (``JobKeys.record``) with the fields

    status        queued | running | done | failed | cancelled
    body          the predict body, as the worker will validate it again (canonical JSON)
    digest        a digest of the body: a resubmission with the same idempotency key must match it
    submitted_ms  when it was accepted (Redis' clock, ms since the epoch), then started_ms, finished_ms
    entry         the id of its stream entry (a job retried after an outage gets a new one)
    attempts      how many times a worker started it; worker: the consumer that did last
    result        once done: the scoring answer, the exact bytes the predict route answers
    error         once failed: the error shape; last_error: why the last attempt was retried
    idem          its idempotency key's Redis key, if it has one (expires with the record)

States: ``queued -> running -> done | failed``, ``queued -> cancelled``; ``running -> queued`` when an attempt
ends in an outage and is retried, ``running -> running`` when another worker reclaims it. Done, failed and
cancelled are final: the first end stored is the one every client reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from job_queue.schema import validate_idempotency_key
from reference.api import ScoreRequest


def digest(body: bytes) -> str:
    """The digest of a request body that an idempotency key is bound to."""
    return hashlib.sha256(body).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Submission:
    """A job as the scoring service submits it: the body to score, and what identifies a retry of it."""

    body: bytes
    idempotency_key: str | None = None

    @classmethod
    def of(cls, request: ScoreRequest, idempotency_key: str | None) -> Submission:
        """The predict body in canonical JSON (a resubmission that differs only in spacing is the same request),
        with its idempotency key validated (422)."""
        canonical = request.model_dump_json(exclude_none=True).encode()
        return cls(canonical, validate_idempotency_key(idempotency_key))

    @property
    def digest(self) -> str:
        """The body's digest."""
        return digest(self.body)


@dataclass(frozen=True, slots=True)
class Started:
    """A job a worker may now run: its body and which attempt this is."""

    body: bytes
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
