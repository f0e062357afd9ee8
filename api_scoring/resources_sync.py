"""``ScoringResources``: the sync scoring worker's long-lived clients, built once per worker after fork."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import urllib3

from api_scoring.grpc_client_sync import GrpcModelClient
from api_scoring.model_client_sync import ModelClient, ModelPair, Predictor, open_pools
from api_scoring.payloads import ScoreRequest, combine, oip_request_body, parse_oip_answer
from api_scoring.settings import ScoringSettings
from feature_store.reader_sync import FeatureReader
from service_runtime.core.context import RequestContext
from service_runtime.core.topology import MODELS, Model, oip_infer_url, oip_ready_url

log = logging.getLogger(__name__)


@dataclass
class ScoringResources:
    """The feature reader, the HTTP connection pools (or gRPC channels) and the model pair of one worker."""

    features: FeatureReader
    models: ModelPair
    clients: list[Predictor]
    pools: urllib3.PoolManager
    executor: ThreadPoolExecutor | None
    ready_timeout_s: float
    channels: list[GrpcModelClient] = field(default_factory=list)

    @classmethod
    def open(cls, settings: ScoringSettings, concurrency: int) -> ScoringResources:
        """Open clients sized to the ``concurrency`` requests (or jobs) the worker serves at once (its threads)."""
        pools = open_pools(settings.model_pool(concurrency))
        executor = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fanout")
            if settings.fanout == "parallel"
            else None
        )
        clients = [model_client(settings, name, pools) for name in MODELS]
        features = FeatureReader(
            settings.redis_url,
            settings.redis_timeout_s,
            settings.redis_connect_timeout_s,
            settings.redis_pool(concurrency),
            settings.redis_password,
        )
        log.info("worker clients opened")
        channels = [c for c in clients if isinstance(c, GrpcModelClient)]
        return cls(features, ModelPair(*clients, executor=executor), clients, pools, executor,
                   settings.ready_timeout_s, channels)  # fmt: skip

    def score(self, request: ScoreRequest, ctx: RequestContext) -> dict[str, Any]:
        """The scoring answer: the one code path of the predict route and of the job worker."""
        features = request.features or self.features.get(request.entity_id, ctx)
        outcome = self.models.predict_both(features, ctx)
        return combine(request.entity_id, outcome)

    def readiness(self) -> dict[str, str]:
        """``ok`` or the reason, for Redis and each model."""
        return {"redis": self.features.ping()} | {c.label: c.check(self.ready_timeout_s) for c in self.clients}

    def close(self) -> None:
        """Stop the fan-out pool and close every connection."""
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        self.pools.clear()
        for channel in self.channels:
            channel.close()
        self.features.close()
        log.info("worker clients closed")


def model_client(settings: ScoringSettings, name: Model, pools: urllib3.PoolManager) -> Predictor:
    """The client of one model over ``SCORING_MODEL_PROTOCOL``: the study's JSON route, the Open Inference Protocol
    over REST (same pools, its own body and answer), or over gRPC (a channel of its own)."""
    if settings.model_protocol == "grpc":
        return GrpcModelClient(name, settings.model_grpc_target(name, "sync"), settings.model_timeout_s,
                               settings.model_max_answer_bytes)  # fmt: skip
    url = settings.model_url(name, "sync")
    limits = (settings.model_connect_timeout_s, settings.model_timeout_s, settings.model_max_answer_bytes)
    if settings.model_protocol == "oip-rest":
        return ModelClient(name, oip_infer_url(url, name), pools, *limits, encode=oip_request_body,
                           parse=parse_oip_answer, check_url=oip_ready_url(url))  # fmt: skip
    return ModelClient(name, url, pools, *limits)
