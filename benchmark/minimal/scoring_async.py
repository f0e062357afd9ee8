"""``AsyncScoringApp``: the minimal async scoring service, a raw ASGI app (Granian ``--interface asgi``).

Features from redis.asyncio (hiredis parses the replies), both models at once over one aiohttp session per
worker, then the shared combination. The clients are opened by the lifespan, inside the worker's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api_scoring.payloads import parse_score_body
from api_scoring.settings import ScoringSettings
from benchmark.minimal.protocol_async import Receive, Send, lifespan, serve
from benchmark.minimal.scoring import (
    JSON_HEADERS,
    Outcome,
    ScoringPlan,
    check_answer_head,
    model_outcome,
    scoring_answer,
)
from feature_store.failures import read_failure
from feature_store.pool import pool_kwargs
from feature_store.schema import FEATURE_NAMES, entity_key
from feature_store.vector import Vector, vector_from_store
from service_runtime.core import jsonio
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError, model_unavailable
from service_runtime.core.server_settings import ServerSettings


class AsyncScoringApp:
    """The predict route and the liveness route; one Redis pool and one HTTP session per worker."""

    def __init__(self, plan: ScoringPlan) -> None:
        self.plan = plan
        self._redis: redis.asyncio.Redis | None = None
        self._session: aiohttp.ClientSession | None = None

    async def aopen(self) -> None:
        """Open the worker's clients (inside its running event loop)."""
        plan = self.plan
        # Blocking: a request waits (boundedly) for a free connection rather than failing; no retries.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            plan.redis_url, retry=Retry(NoBackoff(), 0),
            **pool_kwargs(plan.redis_timeout_s, plan.redis_connect_timeout_s, plan.redis_pool),
        )  # fmt: skip
        self._redis = redis.asyncio.Redis(connection_pool=pool)
        # Idle connections dropped before the server's keep-alive ends, so a reused one is never half-closed.
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=plan.model_pool, keepalive_timeout=plan.client_keepalive_s
        )
        self._session = aiohttp.ClientSession(connector=connector, headers=JSON_HEADERS)

    async def aclose(self) -> None:
        """Close every connection."""
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.aclose()
            await self._redis.connection_pool.disconnect()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.aopen, self.aclose)
            return
        await serve(scope, receive, send, self.plan.path, self.plan.max_body_bytes, self._score)

    async def _score(self, raw: bytes) -> bytes:
        deadline = Deadline(self.plan.deadline_s)
        request = parse_score_body(raw)
        vector = request.features or await self._features(request.entity_id, deadline)
        body = jsonio.dumps(vector)
        # model_a as a task, model_b in this one: one task instead of gather's two.
        task_a = asyncio.create_task(self._predict("model_a", body, deadline))
        outcome_b = await self._predict("model_b", body, deadline)
        return scoring_answer(request.entity_id, await task_a, outcome_b)

    async def _features(self, entity_id: str, deadline: Deadline) -> Vector:
        """One HMGET, a new connection's set-up included, within what is left of the deadline."""
        try:
            async with asyncio.timeout(deadline.timeout(self.plan.redis_connect_timeout_s + self.plan.redis_timeout_s)):
                values = await self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
        except (redis.exceptions.RedisError, TimeoutError) as exc:
            raise read_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    async def _predict(self, label: str, body: bytes, deadline: Deadline) -> Outcome:
        """One model's prediction, the whole call within the model timeout and what is left of the deadline."""
        try:
            budget = deadline.timeout(self.plan.model_timeout_s)
        except ApiError as err:
            return err
        timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(self.plan.model_connect_timeout_s, budget))
        try:
            async with self._session.post(self.plan.model_urls[label], data=body, timeout=timeout) as response:
                check_answer_head(label, response.status, response.content_length, self.plan.max_answer_bytes)
                raw = await response.read()
        except ApiError as err:
            return err
        except (aiohttp.ClientError, TimeoutError) as exc:
            return model_unavailable(label, type(exc).__name__)
        return model_outcome(label, raw)


def create_app() -> AsyncScoringApp:
    """Build the app in each Granian worker (``--factory``) from ``SCORING_*`` settings, its pools sized as the
    real async scoring service sizes them (``SERVER_*``: the requests one worker takes at once)."""
    return AsyncScoringApp(ScoringPlan(ScoringSettings(), "async", ServerSettings().in_flight_limit()))
