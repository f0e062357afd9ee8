"""``JobClient``: the sync scoring service's side of the queue (redis-py): submit, read, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from job_queue import scripts
from job_queue.api import JobAccepted, JobView
from job_queue.errors import job_not_found, job_queue_unavailable
from job_queue.record import Submission
from job_queue.schema import JobKeys, is_job_id, new_job_id
from job_queue.settings import JobSettings
from reference.service import RequestContext

T = TypeVar("T")


class JobClient:
    """Submits, reads and cancels one stack's jobs; every call bounded by the request's deadline."""

    def __init__(self, settings: JobSettings, stack: str, pool_size: int) -> None:
        self._settings = settings
        self._keys = JobKeys(stack)
        # As the feature reader: a bounded pool that waits for a free connection, no retries (a dead Redis is a
        # fast 503, not a stall).
        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url, password=settings.redis_password_value(), max_connections=pool_size,
            timeout=settings.redis_timeout_s, socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_connect_timeout_s, retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.Redis(connection_pool=pool)
        self._submit = self._redis.register_script(scripts.SUBMIT)
        self._cancel = self._redis.register_script(scripts.CANCEL)

    def submit(self, submission: Submission, ctx: RequestContext) -> JobAccepted:
        """Enqueue a job (or find the one its idempotency key names); 503 on a full queue, 409 on a reused key."""
        keys, args = scripts.submit_call(self._keys, new_job_id(), submission, self._settings)
        reply = self._call(lambda: self._submit(keys=keys, args=args), ctx)
        return scripts.submitted(reply, self._settings)

    def view(self, job_id: str, ctx: RequestContext) -> JobView:
        """The job's status and, once it has one, its result or error; 404 if unknown or expired."""
        if not is_job_id(job_id):
            raise job_not_found(job_id)
        record = self._keys.record(job_id)
        status, result, error = self._call(lambda: self._redis.hmget(record, "status", "result", "error"), ctx)
        if status is None:
            raise job_not_found(job_id)
        return JobView.of_record(job_id, status, result, error)

    def cancel(self, job_id: str, ctx: RequestContext) -> JobView:
        """Cancel a queued job; 409 if it has started or ended, 404 if unknown."""
        if not is_job_id(job_id):
            raise job_not_found(job_id)
        keys, args = scripts.cancel_call(self._keys, job_id, self._settings)
        reply = self._call(lambda: self._cancel(keys=keys, args=args), ctx)
        return JobView(job_id=job_id, status=scripts.cancelled(job_id, reply), result=None, error=None)

    def _call(self, command: Callable[[], T], ctx: RequestContext) -> T:
        with ctx.stages.stage("redis"):
            # redis-py has no per-call timeout: the socket timeout bounds the call, so start it only if that much
            # of the deadline is left.
            ctx.deadline.timeout(self._settings.redis_timeout_s)
            try:
                return command()
            except redis.RedisError as exc:
                raise job_queue_unavailable(type(exc).__name__) from exc

    def close(self) -> None:
        """Close every pooled connection."""
        self._redis.close()
        self._redis.connection_pool.disconnect()
