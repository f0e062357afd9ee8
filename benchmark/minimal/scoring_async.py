"""``AsyncScoringApp``: the minimal async scoring service, a raw ASGI app (Granian, ASGI).

Features from redis.asyncio, every model at once over one aiohttp session per worker, then the reference's
combination. The clients are opened by the lifespan, inside the worker's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from benchmark.minimal.protocol import JSON_TYPE, parse
from benchmark.minimal.protocol_async import Receive, Send, lifespan, serve
from benchmark.minimal.scoring import (
    Deadline,
    Outcome,
    ScoringPlan,
    check_answer_head,
    model_failure,
    model_outcome,
    predict_body,
    scoring_answer,
)
from reference.api import ScoreRequest
from reference.core import FEATURE_NAMES, ApiError, Vector, entity_key, store_failure, vector_from_store
from reference.settings import ScoringSettings


class AsyncScoringApp:
    """The predict route and the liveness route; one Redis pool and one HTTP session per worker."""

    def __init__(self, plan: ScoringPlan) -> None:
        self.plan = plan
        self._names, self._urls = list(plan.models), list(plan.models.values())
        self._redis: redis.asyncio.Redis | None = None
        self._session: aiohttp.ClientSession | None = None

    async def aopen(self) -> None:
        """Open the worker's clients (inside its running event loop)."""
        plan = self.plan
        # Blocking: a request waits (boundedly) for a free connection rather than failing; no retries.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            plan.redis_url, password=plan.redis_password, max_connections=plan.pool, timeout=plan.redis_timeout_s,
            socket_timeout=plan.redis_timeout_s, socket_connect_timeout=plan.connect_timeout_s,
            retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        # Idle connections dropped before the server's keep-alive ends, so a reused one is never half-closed.
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=plan.pool, keepalive_timeout=plan.keepalive_s)
        self._session = aiohttp.ClientSession(connector=connector, headers={"Content-Type": JSON_TYPE})

    async def aclose(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.aopen, self.aclose)
            return
        await serve(scope, receive, send, self.plan.path, self.plan.max_body_bytes, self._score)

    async def _score(self, content_type: str | None, raw: bytes) -> bytes:
        deadline = Deadline(self.plan.deadline_s)
        request = parse(content_type, raw, ScoreRequest)
        vector = tuple(request.features) if request.features else await self._features(request.entity_id, deadline)
        body = predict_body(vector)
        # Every model but the last as a task, the last in this one: one task fewer than gather's.
        *others, (last_name, last_url) = zip(self._names, self._urls, strict=True)
        tasks = [asyncio.create_task(self._predict(name, url, body, deadline)) for name, url in others]
        last = await self._predict(last_name, last_url, body, deadline)
        return scoring_answer(request.entity_id, self._names, [*[await task for task in tasks], last])

    async def _features(self, entity_id: str, deadline: Deadline) -> Vector:
        """One HMGET, a new connection's set-up included, within what is left of the deadline."""
        try:
            async with asyncio.timeout(deadline.timeout(self.plan.connect_timeout_s + self.plan.redis_timeout_s)):
                values = await self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
        except (redis.RedisError, TimeoutError) as exc:
            raise store_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    async def _predict(self, name: str, url: str, body: bytes, deadline: Deadline) -> Outcome:
        """One model's prediction, the whole call within the model timeout and what is left of the deadline."""
        try:
            budget = deadline.timeout(self.plan.model_timeout_s)
        except ApiError as error:
            return error
        timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(self.plan.connect_timeout_s, budget))
        phase = "request"
        try:
            async with self._session.post(url, data=body, timeout=timeout) as response:
                check_answer_head(name, response.status, response.content_length, self.plan.max_answer_bytes)
                phase = "read"
                raw = await response.read()
        except ApiError as error:
            return error
        except (aiohttp.ClientError, TimeoutError) as exc:
            return model_failure(name, phase, type(exc).__name__)
        return model_outcome(name, raw)


def create_app() -> AsyncScoringApp:
    """The app each Granian worker builds (``benchmark.minimal.scoring_async:create_app``) from ``SCORING_*``."""
    return AsyncScoringApp(ScoringPlan(ScoringSettings(), "async"))
