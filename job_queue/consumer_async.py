"""``AsyncJobConsumer``: the async job worker's side of the queue (redis.asyncio): take, start, end jobs."""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from job_queue import scripts
from job_queue.record import Finished, QueueStats, Skipped, Started
from job_queue.schema import GROUP, JobKeys
from job_queue.settings import JobSettings

Entry = tuple[str, str]  # (stream entry id, job id)


class AsyncJobConsumer:
    """One worker process in the stack's consumer group: reads new entries, reclaims silent ones, stores ends."""

    def __init__(self, settings: JobSettings, stack: str, name: str, block_s: float, max_connections: int) -> None:
        self.name = name
        self._settings = settings
        self._keys = JobKeys(stack)
        self._block_ms = max(1, round(block_s * 1000))
        self._cursor = "0-0"  # where the next XAUTOCLAIM scan of the pending entries starts
        # Every reply within the command timeout, a blocking read within its block time on top.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.redis_url, password=settings.redis_password_value(), max_connections=max_connections,
            timeout=settings.redis_timeout_s + block_s, socket_timeout=settings.redis_timeout_s + block_s,
            socket_connect_timeout=settings.redis_connect_timeout_s, retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        self._start = self._redis.register_script(scripts.START)
        self._finish = self._redis.register_script(scripts.FINISH)
        self._requeue = self._redis.register_script(scripts.REQUEUE)
        self._stats = self._redis.register_script(scripts.STATS)

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing, from the stream's start: no entry is skipped."""
        try:
            await self._redis.xgroup_create(self._keys.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int) -> list[Entry]:
        """Up to ``count`` entries never delivered before, waiting at most the block time for one."""
        try:
            reply = await self._redis.xreadgroup(
                GROUP, self.name, {self._keys.stream: ">"}, count=count, block=self._block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # Redis lost the group (restarted without its data): start again
            return []
        return scripts.entries(reply[0][1]) if reply else []

    async def reclaim(self, count: int) -> list[Entry]:
        """Up to ``count`` entries delivered to a worker that has not ended them within the visibility timeout."""
        reply = await self._redis.xautoclaim(
            self._keys.stream, GROUP, self.name, self._settings.visibility_timeout_ms(), self._cursor, count=count
        )
        self._cursor = scripts.next_cursor(reply[0])
        return scripts.entries(reply[1])

    async def start(self, entry: str, job_id: str) -> Started | Skipped:
        """Mark the job running by this worker, or learn why it must not run."""
        keys, args = scripts.start_call(self._keys, entry, job_id, self.name, self._settings)
        return scripts.started(await self._start(keys=keys, args=args))

    async def finish(
        self, entry: str, job_id: str, result: bytes | None = None, error: bytes | None = None
    ) -> Finished:
        """Store the job's result (or error) unless another end was stored first, then acknowledge the entry."""
        keys, args = scripts.finish_call(self._keys, entry, job_id, result, error, self._settings)
        return scripts.finished(await self._finish(keys=keys, args=args))

    async def requeue(self, entry: str, job_id: str, why: bytes) -> bool:
        """Put a running job back at the end of the queue (its attempt met an outage); False if it has ended."""
        keys, args = scripts.requeue_call(self._keys, entry, job_id, why)
        return bool(await self._requeue(keys=keys, args=args))

    async def stats(self) -> QueueStats:
        """The queue's depth, its oldest entry's age and its pending entries."""
        keys, args = scripts.stats_call(self._keys)
        return scripts.stats(await self._stats(keys=keys, args=args))

    async def prune(self, idle_s: float) -> int:
        """Delete consumers idle for ``idle_s`` that hold no entry (workers gone); how many were deleted."""
        try:
            consumers = await self._redis.xinfo_consumers(self._keys.stream, GROUP)
        except redis.ResponseError:
            return 0  # no stream or no group yet: nothing to prune
        names = scripts.prunable(consumers, self.name, round(idle_s * 1000))
        for name in names:
            await self._redis.xgroup_delconsumer(self._keys.stream, GROUP, name)
        return len(names)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._redis.aclose(close_connection_pool=True)
