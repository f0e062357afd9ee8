"""``FeatureReader``: the sync stack's feature store client (redis-py, blocking pool)."""

from __future__ import annotations

# redis-py through this module (not ``import redis``), so that the sync stack never loads the async client.
from pydantic import SecretStr

from feature_store.failures import read_failure
from feature_store.pool import pool_kwargs
from feature_store.redis_without_asyncio import redis
from feature_store.schema import FEATURE_NAMES, SEED_MARKER_KEY, UNSEEDED, entity_key
from feature_store.vector import Vector, vector_from_store
from service_runtime.core.context import RequestContext


class FeatureReader:
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
        # redis-py retries 10 times with backoff by default, which can stall one call for
        # seconds on a dead Redis. We fail fast; the caller answers 503.
        pool = redis.BlockingConnectionPool.from_url(
            redis_url,
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            **pool_kwargs(timeout_s, connect_timeout_s, max_connections, password),
        )
        self._redis = redis.Redis(connection_pool=pool)

    def get(self, entity_id: str, ctx: RequestContext) -> Vector:
        """The entity's feature vector, timed as stage ``redis``; 404, 422 or 503 as an ``ApiError``."""
        with ctx.stages.stage("redis"):
            # redis-py has no per-call timeout: the pool's socket timeout bounds the call, so
            # only start it if that much budget is left.
            ctx.deadline.timeout(self._timeout_s)
            try:
                values = self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
            except redis.RedisError as exc:
                raise read_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    def ping(self) -> str:
        """``ok`` when Redis answers and holds the seed's marker, ``unseeded`` if it lacks it, else why not."""
        try:
            seeded = self._redis.exists(SEED_MARKER_KEY)
        except redis.RedisError as exc:
            return type(exc).__name__
        return "ok" if seeded else UNSEEDED

    def close(self) -> None:
        """Close every pooled connection."""
        self._redis.close()
        self._redis.connection_pool.disconnect()
