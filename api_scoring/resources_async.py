"""``AsyncScoringResources``: the async scoring worker's long-lived clients, opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from api_scoring.model_client_async import AsyncModelClient, AsyncModelPair, open_session
from api_scoring.settings import ScoringSettings
from feature_store.reader_async import AsyncFeatureReader
from service_runtime.core.topology import MODELS

# One event loop keeps many calls in flight: pools sized for the load, not for a thread count.
POOL_SIZE = 100
REDIS_POOL_SIZE = 64


@dataclass
class AsyncScoringResources:
    """The feature reader, the HTTP session and the model pair of one worker."""

    features: AsyncFeatureReader
    models: AsyncModelPair
    clients: list[AsyncModelClient]
    session: aiohttp.ClientSession
    ready_timeout_s: float

    @classmethod
    async def open(cls, settings: ScoringSettings) -> AsyncScoringResources:
        """Open the worker's clients (inside the running event loop)."""
        session = open_session(settings.model_pool_size or POOL_SIZE, settings.client_keepalive_s)
        clients = [
            AsyncModelClient(
                name, settings.model_url(name, "async"), session,
                settings.model_connect_timeout_s, settings.model_timeout_s,
            )
            for name in MODELS
        ]  # fmt: skip
        features = AsyncFeatureReader(
            settings.redis_url, settings.redis_timeout_s, settings.redis_max_connections or REDIS_POOL_SIZE
        )
        return cls(features, AsyncModelPair(*clients), clients, session, settings.ready_timeout_s)

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
