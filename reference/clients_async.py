"""The async scoring service's clients: the feature store over redis.asyncio, the models over aiohttp."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import redis.asyncio
from pydantic import ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reference.api import Prediction, PredictRequest, liveness_url
from reference.core import (
    FEATURE_NAMES,
    SEED_MARKER_KEY,
    ApiError,
    Vector,
    entity_key,
    store_failure,
    unavailable,
    vector_from_store,
)
from reference.service import RequestContext
from reference.settings import ScoringSettings

log = logging.getLogger(__name__)
JSON = {"Content-Type": "application/json"}


class AsyncFeatureReader:
    """Reads an entity's features with one HMGET over a bounded pool of connections."""

    def __init__(self, settings: ScoringSettings) -> None:
        # A blocking pool waits for a free connection (bounded by ``timeout``) rather than failing at once; no
        # retries (redis-py retries 10 times by default): a dead Redis is a fast 503, not a stall.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.redis_url, password=settings.redis_password_value(), max_connections=settings.pool("async"),
            timeout=settings.redis_timeout_s, socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.connect_timeout_s, retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        self._budget_s = settings.connect_timeout_s + settings.redis_timeout_s

    async def get(self, entity_id: str, ctx: RequestContext) -> Vector:
        """The entity's vector within what is left of the deadline; 404, 422 or 503 as an ``ApiError``."""
        with ctx.stages.stage("redis"):
            try:
                # A command cancelled by the timeout drops its connection, so no later caller reads its reply.
                async with asyncio.timeout(ctx.deadline.timeout(self._budget_s)):
                    values = await self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
            except (redis.RedisError, TimeoutError) as exc:
                raise store_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    async def check(self) -> str:
        """``ok`` when Redis answers and holds a complete seed, ``unseeded`` when it does not, else why not."""
        try:
            return "ok" if await self._redis.exists(SEED_MARKER_KEY) else "unseeded"
        except redis.RedisError as exc:
            return type(exc).__name__

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._redis.aclose(close_connection_pool=True)


class AsyncModelClient:
    """Calls one model service's predict route; its failures come back as 503s naming the model."""

    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, settings: ScoringSettings) -> None:
        self.name, self.url = name, url
        self._session = session
        self._timeout_s, self._connect_s = settings.model_timeout_s, settings.connect_timeout_s
        self._max_bytes = settings.max_answer_bytes

    async def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; the whole call (pool wait, connect, send, the answer) within the deadline."""
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(self._connect_s, budget))
            body = PredictRequest(features=list(vector)).model_dump_json()
            phase = "request"
            try:
                async with self._session.post(self.url, data=body, headers=ctx.outbound_headers(),
                                              timeout=timeout) as response:  # fmt: skip
                    if response.status != 200:
                        raise self._failure("status", f"HTTP {response.status}")
                    phase = "read"
                    raw = await self._read(response)
                phase = "parse"
                return Prediction.model_validate_json(raw)
            except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
                raise self._failure(phase, type(exc).__name__) from exc

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole answer, refused without being buffered once it is over the size bound."""
        if (response.content_length or 0) > self._max_bytes:
            raise self._failure("read", f"answer larger than {self._max_bytes} bytes")
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(self._max_bytes + 1):
            size += len(chunk)
            if size > self._max_bytes:
                raise self._failure("read", f"answer larger than {self._max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _failure(self, phase: str, reason: str) -> ApiError:
        # Logged where it happened, so that a failure under load can be explained afterwards.
        log.warning("model call failed", extra={"model": self.name, "phase": phase, "reason": reason})
        return unavailable("model_unavailable", f"model {self.name!r} unavailable: {reason} ({phase})", [self.name])

    async def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return await self.predict(vector, ctx)
        except ApiError as error:
            return error

    async def check(self) -> str:
        """``ok`` when the model service answers its liveness probe, else why not."""
        try:
            async with self._session.get(
                liveness_url(self.url), timeout=aiohttp.ClientTimeout(total=self._timeout_s)
            ) as response:
                return "ok" if response.status == 200 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__


def open_session(settings: ScoringSettings) -> aiohttp.ClientSession:
    """One session per worker: a connection pool per model, each connection dropped before the server would."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=settings.pool("async"),
                                     keepalive_timeout=settings.client_keepalive_s())  # fmt: skip
    return aiohttp.ClientSession(connector=connector, headers=JSON)


def model_clients(settings: ScoringSettings, session: aiohttp.ClientSession) -> list[AsyncModelClient]:
    """A client per model, named ``model_a``, ``model_b``... in the order of ``SCORING_MODEL_URLS``."""
    return [AsyncModelClient(name, url, session, settings) for name, url in settings.models("async").items()]


async def fan_out(clients: list[AsyncModelClient], vector: Vector, ctx: RequestContext) -> list[Prediction | ApiError]:
    """Every model's outcome, called at once on this worker's event loop."""
    return await asyncio.gather(*(client.outcome(vector, ctx) for client in clients))
