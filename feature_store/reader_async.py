"""``AsyncFeatureReader``: the async stack's feature store client (redis.asyncio, blocking pool)."""

from __future__ import annotations

import asyncio

import redis.asyncio
import redis.exceptions
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from feature_store.failures import read_failure
from feature_store.pool import pool_kwargs
from feature_store.schema import FEATURE_NAMES, SEED_MARKER_KEY, UNSEEDED, entity_key
from feature_store.vector import Vector, vector_from_store
from service_runtime.core.context import RequestContext


class AsyncFeatureReader:
    """Reads an entity's feature vector with one HMGET over a bounded, blocking connection pool."""

    def __init__(
        self,
        redis_url: str,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        password: SecretStr | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        # BlockingConnectionPool waits for a free connection instead of raising "Too many connections".
        # No retries, as in FeatureReader: fail fast and answer 503.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            redis_url,
            retry=Retry(NoBackoff(), 0),
            **pool_kwargs(timeout_s, connect_timeout_s, max_connections, password),
        )
        self._redis = redis.asyncio.Redis(connection_pool=pool)

    async def get(self, entity_id: str, ctx: RequestContext) -> Vector:
        """The entity's feature vector, timed as stage ``redis``; 404, 422 or 503 as an ``ApiError``."""
        with ctx.stages.stage("redis"):
            try:
                # The whole call, a new connection's set-up included, within what is left of the deadline
                # (each reply within the pool's socket timeout). A cancelled command disconnects its
                # connection (redis-py >= 5), so no later caller can read this reply.
                async with asyncio.timeout(ctx.deadline.timeout(self._connect_timeout_s + self._timeout_s)):
                    values = await self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
            except (redis.exceptions.RedisError, TimeoutError) as exc:
                raise read_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    async def ping(self) -> str:
        """``ok`` when Redis answers and holds the seed's marker, ``unseeded`` if it lacks it, else why not."""
        try:
            seeded = await self._redis.exists(SEED_MARKER_KEY)
        except redis.exceptions.RedisError as exc:
            return type(exc).__name__
        return "ok" if seeded else UNSEEDED

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
