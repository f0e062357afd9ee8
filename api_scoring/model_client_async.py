"""``AsyncModelClient``: the async stack's model client (aiohttp, one ClientSession per worker)."""

from __future__ import annotations

import asyncio

import aiohttp

from api_scoring.payloads import ModelPrediction, parse_model_answer
from common import jsonio
from common.errors import model_unavailable
from common.timing import Stages
from feature_store.vector import Vector

JSON_HEADERS = {"Content-Type": jsonio.JSON_MEDIA_TYPE}


def open_session(pool_size: int, keepalive_s: float) -> aiohttp.ClientSession:
    """A ClientSession holding up to ``pool_size`` connections, dropped when idle for ``keepalive_s``."""
    # keepalive_s must be shorter than the server's keep-alive, or a reused socket the
    # server has just closed fails with ServerDisconnectedError (aiohttp defaults to 15 s).
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=pool_size, keepalive_timeout=keepalive_s)
    return aiohttp.ClientSession(connector=connector, headers=JSON_HEADERS)


class AsyncModelClient:
    """Calls one model service's predict endpoint."""

    def __init__(
        self, label: str, url: str, session: aiohttp.ClientSession, connect_timeout_s: float, timeout_s: float
    ) -> None:
        self.label = label
        self._url = url
        self._session = session
        # total bounds the whole call; connect also covers the wait for a free pooled connection.
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=connect_timeout_s)

    async def predict(self, vector: Vector, stages: Stages) -> ModelPrediction:
        """The model's prediction for ``vector``, timed as stage ``label``; a 503 ``ApiError`` when it gives none."""
        with stages.stage(self.label):
            return await self._predict(vector)

    async def _predict(self, vector: Vector) -> ModelPrediction:
        try:
            async with self._session.post(self._url, data=jsonio.dumps(vector), timeout=self._timeout) as response:
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise model_unavailable(self.label, type(exc).__name__) from exc
        if response.status != 200:
            raise model_unavailable(self.label, f"HTTP {response.status}")
        return parse_model_answer(self.label, raw)


class AsyncModelPair:
    """Both models, called concurrently on the event loop."""

    def __init__(self, model_a: AsyncModelClient, model_b: AsyncModelClient) -> None:
        self._model_a = model_a
        self._model_b = model_b

    async def predict_both(self, vector: Vector, stages: Stages) -> list[ModelPrediction]:
        """Predictions of model_a and model_b, in that order."""
        return list(await asyncio.gather(self._model_a.predict(vector, stages), self._model_b.predict(vector, stages)))
