"""What both job workers share: the scoring settings of a worker, how a job's run ends, the worker's state, the
pacing of its loop."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Literal

from job_queue.api import error_json
from job_worker.settings import WorkerSettings
from reference.api import Score
from reference.core import ApiError, unavailable
from reference.service import Deadline, RequestContext, readiness
from reference.settings import ScoringSettings

# Backoff after the queue's Redis failed a read: long enough not to spin, short enough to resume quickly.
QUEUE_RETRY_S = 0.5
# The queue counts as unreachable (readiness fails) when no read succeeded for this many read periods.
STALE_READS = 3
# How soon a sleeping worker sees a stop requested meanwhile.
STOP_CHECK_S = 0.05


def scoring_settings(worker: WorkerSettings) -> ScoringSettings:
    """The scoring service's settings (``SCORING_*``, ``REDIS_URL``...), its clients sized for the jobs in hand: a
    connection to Redis and to each model per job, and a fan-out thread per job on the sync stack."""
    settings = ScoringSettings()
    return settings.model_copy(
        update={"max_in_flight": worker.concurrency, "pool_size": settings.pool_size or worker.concurrency}
    )


def consumer_name(settings: WorkerSettings) -> str:
    """The worker's consumer name: its setting, or one unique to this process (``async-host-1234``)."""
    return settings.name or f"{settings.stack}-{socket.gethostname()}-{os.getpid()}"


def job_context(job_id: str, deadline_s: float) -> RequestContext:
    """A job's context, as the scoring service makes one per request: the job id as request id (it reaches the
    models' logs), and the scoring deadline counted from the job's start."""
    return RequestContext(job_id, Deadline(deadline_s, time.monotonic()))


@dataclass(frozen=True, slots=True)
class Ending:
    """How one run of a job ends: ``done`` with the answer's bytes, ``failed`` with the error shape's bytes, or
    ``retry`` (an outage or a degraded answer, and attempts are left) with the error that caused it."""

    kind: Literal["done", "failed", "retry"]
    payload: bytes
    error: str = ""  # the error code of a failure or retry

    @classmethod
    def done(cls, answer: Score) -> Ending:
        """The scoring answer, encoded exactly as the predict route encodes it."""
        return cls("done", answer.model_dump_json().encode())

    @classmethod
    def of_score(cls, answer: Score, attempts: int, max_attempts: int) -> Ending:
        """The answer, unless it left a model out and attempts are left: no caller waits on a job, so it is run again
        for the whole answer, and only its last attempt keeps a degraded one."""
        if answer.degraded and attempts < max_attempts:
            left_out = ", ".join(answer.degraded)
            return cls.of_error(unavailable("model_unavailable", f"left out: {left_out}", answer.degraded),
                                attempts, max_attempts)  # fmt: skip
        return cls.done(answer)

    @classmethod
    def of_error(cls, err: ApiError, attempts: int, max_attempts: int) -> Ending:
        """A client or data error (4xx) fails the job; an outage (5xx) is retried while attempts are left."""
        kind = "retry" if err.status >= 500 and attempts < max_attempts else "failed"
        return cls(kind, error_json(err), err.code)

    @classmethod
    def unexpected(cls) -> Ending:
        """A bug: the job fails with the internal error's shape rather than stay running until it expires."""
        err = ApiError(500, "internal_error", "unexpected server error")
        return cls("failed", error_json(err), err.code)


class WorkerState:
    """What the probes report: whether the worker is stopping, and whether the queue answered lately."""

    def __init__(self, stale_after_s: float) -> None:
        self._stale_after_s = stale_after_s
        self._last_ok: float | None = None  # not ready until the queue has answered once
        # The stop flag is a plain attribute, not a threading.Event: the sync worker sets it from a signal handler,
        # and an Event's lock, taken by the handler while the main thread holds it in Event.wait, deadlocks it.
        self.stop_requested_at: float | None = None

    @classmethod
    def polling(cls, poll_s: float) -> WorkerState:
        """The state of a worker that reads every ``poll_s`` at most: the queue is unreachable after
        ``STALE_READS`` reads without an answer."""
        return cls(STALE_READS * poll_s + 1.0)

    def request_stop(self) -> None:
        """Take no new job from now on (a signal handler's whole work: it only sets flags, and takes no lock)."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self.stop_requested_at is not None

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if a stop is requested meanwhile (seen within ``STOP_CHECK_S``)."""
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, STOP_CHECK_S))

    def grace_left(self, grace_s: float) -> float:
        """Seconds left of the grace period since the stop was requested."""
        begun = self.stop_requested_at if self.stop_requested_at is not None else time.monotonic()
        return max(0.0, begun + grace_s - time.monotonic())

    def queue_answered(self) -> None:
        """The queue's Redis answered a read."""
        self._last_ok = time.monotonic()

    def readiness(self) -> tuple[int, dict[str, Any]]:
        """503 while draining or when the queue has not answered for a while, else 200."""
        if self.stopping:
            return 503, ApiError(503, "draining", "stopping: finishing the jobs in hand, taking no new one").body()
        if self._last_ok is None:
            return readiness({"queue": "starting"})
        silent_s = time.monotonic() - self._last_ok
        return readiness({"queue": "ok" if silent_s <= self._stale_after_s else "unreachable"})


class Pacing:
    """Whether a periodic task is due: at most once every ``interval_s``, the first time at once."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._next = 0.0

    def due(self) -> bool:
        """True (and the next time set) if the interval has passed."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._interval_s
        return True
