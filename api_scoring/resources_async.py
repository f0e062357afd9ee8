"""``AsyncScoringResources``: the async scoring worker's long-lived clients, opened and closed by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from api_scoring.grpc_client_async import AsyncGrpcModelClient
from api_scoring.model_client_async import AsyncModelClient, AsyncModelPair, AsyncPredictor, open_session
from api_scoring.payloads import ScoreRequest, combine, oip_request_body, parse_oip_answer
from api_scoring.settings import ScoringSettings
from feature_store.reader_async import AsyncFeatureReader
from service_runtime.core.context import RequestContext
from service_runtime.core.topology import MODELS, Model, oip_infer_url, oip_ready_url

log = logging.getLogger(__name__)


@dataclass
class AsyncScoringResources:
    """The feature reader, the HTTP session (or gRPC channels) and the model pair of one worker."""

    features: AsyncFeatureReader
    models: AsyncModelPair
    clients: list[AsyncPredictor]
    session: aiohttp.ClientSession
    ready_timeout_s: float
    channels: list[AsyncGrpcModelClient] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: ScoringSettings, concurrency: int) -> AsyncScoringResources:
        """Open the worker's clients (inside the running event loop), sized to the ``concurrency`` requests (or
        jobs) it serves at once."""
        session = open_session(settings.model_pool(concurrency), settings.client_keepalive_s)
        clients = [model_client(settings, name, session) for name in MODELS]
        features = AsyncFeatureReader(
            settings.redis_url,
            settings.redis_timeout_s,
            settings.redis_connect_timeout_s,
            settings.redis_pool(concurrency),
            settings.redis_password,
        )
        log.info("worker clients opened")
        channels = [c for c in clients if isinstance(c, AsyncGrpcModelClient)]
        return cls(features, AsyncModelPair(*clients), clients, session, settings.ready_timeout_s, channels)

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
        for channel in self.channels:
            await channel.aclose()
        await self.features.aclose()
        log.info("worker clients closed")


def model_client(settings: ScoringSettings, name: Model, session: aiohttp.ClientSession) -> AsyncPredictor:
    """The client of one model over ``SCORING_MODEL_PROTOCOL``: the study's JSON route, the Open Inference Protocol
    over REST (same session, its own body and answer), or over gRPC (a channel of its own)."""
    if settings.model_protocol == "grpc":
        return AsyncGrpcModelClient(name, settings.model_grpc_target(name, "async"), settings.model_timeout_s,
                                    settings.model_max_answer_bytes)  # fmt: skip
    url = settings.model_url(name, "async")
    limits = (settings.model_connect_timeout_s, settings.model_timeout_s, settings.model_max_answer_bytes)
    if settings.model_protocol == "oip-rest":
        return AsyncModelClient(name, oip_infer_url(url, name), session, *limits, encode=oip_request_body,
                                parse=parse_oip_answer, check_url=oip_ready_url(url))  # fmt: skip
    return AsyncModelClient(name, url, session, *limits)
