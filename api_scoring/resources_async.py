"""``AsyncScoringResources``: the async scoring worker's long-lived clients, opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from api_scoring.model_client_async import AsyncModelClient, AsyncModelPair, open_session
from api_scoring.payloads import ScoreRequest, combine
from api_scoring.settings import ScoringSettings
from feature_store.reader_async import AsyncFeatureReader
from service_runtime.core.context import RequestContext
from service_runtime.core.topology import MODELS


@dataclass
class AsyncScoringResources:
    """The feature reader, the HTTP session and the model pair of one worker."""

    features: AsyncFeatureReader
    models: AsyncModelPair
    clients: list[AsyncModelClient]
    session: aiohttp.ClientSession
    ready_timeout_s: float

    @classmethod
    async def open(cls, settings: ScoringSettings, concurrency: int) -> AsyncScoringResources:
        """Open the worker's clients (inside the running event loop), sized to the ``concurrency`` requests (or
        jobs) it serves at once."""
        session = open_session(settings.model_pool(concurrency), settings.client_keepalive_s)
        clients = [
            AsyncModelClient(
                name, settings.model_url(name, "async"), session,
                settings.model_connect_timeout_s, settings.model_timeout_s, settings.model_max_answer_bytes,
            )
            for name in MODELS
        ]  # fmt: skip
        features = AsyncFeatureReader(
            settings.redis_url,
            settings.redis_timeout_s,
            settings.redis_connect_timeout_s,
            settings.redis_pool(concurrency),
        )
        return cls(features, AsyncModelPair(*clients), clients, session, settings.ready_timeout_s)

    async def score(self, request: ScoreRequest, ctx: RequestContext) -> dict[str, Any]:
        """The scoring answer: the one code path of the predict route and of the job worker."""
        features = request.features or await self.features.get(request.entity_id, ctx)
        outcome = await self.models.predict_both(features, ctx)
        return combine(request.entity_id, outcome)

    async def readiness(self) -> dict[str, str]:
        """``ok`` or the reason, for Redis and each model."""
        redis_state, *model_states = await asyncio.gather(
            self.features.ping(), *(c.check(self.ready_timeout_s) for c in self.clients)
        )
        return {"redis": redis_state} | {c.label: s for c, s in zip(self.clients, model_states, strict=True)}

    async def aclose(self) -> None:
        """Close every connection."""
        await self.session.close()
        await self.features.aclose()
