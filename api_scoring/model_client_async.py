"""``AsyncModelClient``: the async stack's model client (aiohttp, one ClientSession per worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import aiohttp

from api_scoring.payloads import (
    ANSWER_CHUNK_BYTES,
    ModelPrediction,
    Outcome,
    answer_too_large,
    check_declared_length,
    parse_model_answer,
    settle,
)
from feature_store.vector import Vector
from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.errors import ApiError, model_unavailable
from service_runtime.core.topology import health_url

JSON_HEADERS = {"Content-Type": jsonio.JSON_MEDIA_TYPE}
Encode = Callable[[Vector], bytes]
Parse = Callable[[str, bytes], ModelPrediction]


def open_session(pool_size: int, keepalive_s: float) -> aiohttp.ClientSession:
    """A ClientSession holding up to ``pool_size`` connections, dropped when idle for ``keepalive_s``."""
    # keepalive_s must be shorter than the server's keep-alive, or a reused socket the
    # server has just closed fails with ServerDisconnectedError (aiohttp defaults to 15 s).
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=pool_size, keepalive_timeout=keepalive_s)
    return aiohttp.ClientSession(connector=connector, headers=JSON_HEADERS)


class AsyncPredictor(Protocol):
    """What a model pair calls: any transport's model client (this module's, or the gRPC one)."""

    label: str

    async def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """The prediction, or the failure."""
        ...

    async def check(self, timeout_s: float) -> str:
        """``ok``, or why not."""
        ...


class AsyncModelClient:
    """Calls one model service's predict endpoint."""

    def __init__(
        self, label: str, url: str, session: aiohttp.ClientSession, connect_timeout_s: float, timeout_s: float,
        max_answer_bytes: int, encode: Encode = jsonio.dumps, parse: Parse = parse_model_answer,
        check_url: str | None = None,
    ) -> None:  # fmt: skip
        """``url`` answers ``encode(vector)`` with what ``parse`` reads (by default the study's JSON route);
        ``check_url`` is its readiness check (by default the service's liveness route)."""
        self.label = label
        self._url = url
        self._check_url = check_url or health_url(url)
        self._session = session
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._max_answer_bytes = max_answer_bytes
        self._encode = encode
        self._parse = parse

    async def predict(self, vector: Vector, ctx: RequestContext) -> ModelPrediction:
        """The model's prediction, timed as stage ``label`` and bounded by the deadline; a 503 when it gives none.

        The whole call (waiting for a pooled connection, connect, send, every byte of the answer) ends within
        the model timeout and what is left of the deadline. An answer over ``max_answer_bytes`` is refused,
        not buffered.
        """
        with ctx.stages.stage(self.label):
            budget = ctx.deadline.timeout(self._timeout_s)
            # total bounds the whole call; sock_connect only the TCP connect, not the wait for a pooled
            # connection (aiohttp's connect would count that wait too, and fail bursts after an idle gap).
            timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(self._connect_timeout_s, budget))
            try:
                async with self._session.post(
                    self._url, data=self._encode(vector), headers=ctx.trace.outbound_headers(), timeout=timeout
                ) as response:
                    raw = await self._read(response)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise model_unavailable(self.label, type(exc).__name__) from exc
            return self._parse(self.label, raw)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole answer within the size bound (leaving the block unread closes the connection)."""
        if response.status != 200:
            raise model_unavailable(self.label, f"HTTP {response.status}")
        check_declared_length(self.label, response.content_length, self._max_answer_bytes)
        chunks, size = [], 0
        async for chunk in response.content.iter_chunked(ANSWER_CHUNK_BYTES):
            size += len(chunk)
            if size > self._max_answer_bytes:
                raise answer_too_large(self.label, self._max_answer_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    async def check(self, timeout_s: float) -> str:
        """``ok`` when the model service is live, else why not (for readiness)."""
        try:
            async with self._session.get(self._check_url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                return "ok" if response.status == 200 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__

    async def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """``predict``, with its failure returned instead of raised."""
        try:
            return await self.predict(vector, ctx)
        except ApiError as err:
            return err


class AsyncModelPair:
    """Both models, called concurrently on the event loop."""

    def __init__(self, model_a: AsyncPredictor, model_b: AsyncPredictor) -> None:
        self._model_a = model_a
        self._model_b = model_b

    async def predict_both(self, vector: Vector, ctx: RequestContext) -> Outcome:
        """Predictions of model_a and model_b (in that order), degraded to one if the other fails."""
        outcome_a, outcome_b = await asyncio.gather(
            self._model_a.outcome(vector, ctx), self._model_b.outcome(vector, ctx)
        )
        return settle([("model_a", outcome_a), ("model_b", outcome_b)])
