"""``AsyncScoringResources``: the async scoring worker's long-lived clients, opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp

from api_scoring.model_client_async import AsyncModelClient, AsyncModelPair, open_session
from api_scoring.settings import ScoringSettings
from feature_store.reader_async import AsyncFeatureReader
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import MODELS

log = logging.getLogger(__name__)


@dataclass
class AsyncScoringResources:
    """The feature reader, the HTTP session and the model pair of one worker."""

    features: AsyncFeatureReader
    models: AsyncModelPair
    clients: list[AsyncModelClient]
    session: aiohttp.ClientSession
    ready_timeout_s: float

    @classmethod
    async def open(cls, settings: ScoringSettings, server: ServerSettings) -> AsyncScoringResources:
        """Open the worker's clients (inside the running event loop), sized to the requests it serves at once."""
        concurrency = server.in_flight_limit()
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
        log.info("worker clients opened")
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
        log.info("worker clients closed")
