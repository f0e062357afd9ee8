"""``AsyncFeatureReader``: the async stack's feature store client (redis.asyncio, blocking pool)."""

from __future__ import annotations

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from common.errors import feature_store_unavailable
from common.timing import Stages
from feature_store.reader import pool_kwargs
from feature_store.schema import FEATURE_NAMES, entity_key
from feature_store.vector import Vector, vector_from_store


class AsyncFeatureReader:
    """Reads an entity's feature vector with one HMGET over a bounded, blocking connection pool."""

    def __init__(self, redis_url: str, timeout_s: float, max_connections: int) -> None:
        # BlockingConnectionPool waits for a free connection instead of raising "Too many connections".
        # No retries, as in FeatureReader: fail fast and answer 503.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            redis_url, retry=Retry(NoBackoff(), 0), **pool_kwargs(timeout_s, max_connections)
        )
        self._redis = redis.asyncio.Redis(connection_pool=pool)

    async def get(self, entity_id: str, stages: Stages) -> Vector:
        """The entity's feature vector, timed as stage ``redis``; 404, 422 or 503 as an ``ApiError``."""
        try:
            with stages.stage("redis"):
                values = await self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
        except redis.exceptions.RedisError as exc:
            raise feature_store_unavailable(type(exc).__name__) from exc
        return vector_from_store(entity_id, values)

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await self._redis.ping())
        except redis.exceptions.RedisError:
            return False

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()
