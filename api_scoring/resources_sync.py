"""``ScoringResources``: the sync scoring worker's long-lived clients, built once per worker after fork."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from api_scoring.model_client_sync import ModelClient, ModelPair, open_pools
from api_scoring.payloads import ScoreRequest, combine
from api_scoring.settings import ScoringSettings
from feature_store.reader_sync import FeatureReader
from service_runtime.core.context import RequestContext
from service_runtime.core.topology import MODELS


@dataclass
class ScoringResources:
    """The feature reader, the HTTP connection pools and the model pair of one worker."""

    features: FeatureReader
    models: ModelPair
    clients: list[ModelClient]
    pools: urllib3.PoolManager
    executor: ThreadPoolExecutor | None
    ready_timeout_s: float

    @classmethod
    def open(cls, settings: ScoringSettings, concurrency: int) -> ScoringResources:
        """Open clients sized to the ``concurrency`` requests (or jobs) the worker serves at once (its threads)."""
        pools = open_pools(settings.model_pool(concurrency))
        executor = (
            ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fanout")
            if settings.fanout == "parallel"
            else None
        )
        clients = [
            ModelClient(
                name, settings.model_url(name, "sync"), pools,
                settings.model_connect_timeout_s, settings.model_timeout_s, settings.model_max_answer_bytes,
            )
            for name in MODELS
        ]  # fmt: skip
        features = FeatureReader(
            settings.redis_url,
            settings.redis_timeout_s,
            settings.redis_connect_timeout_s,
            settings.redis_pool(concurrency),
        )
        return cls(features, ModelPair(*clients, executor=executor), clients, pools, executor, settings.ready_timeout_s)

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
        self.features.close()
