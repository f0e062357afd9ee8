"""``ScoringApp``: the minimal sync scoring service, a raw WSGI app (Granian ``--interface wsgi``, blocking threads).

Features from redis-py (hiredis parses the replies), both models at once (model_a on a small thread pool,
model_b on the request's thread) over urllib3 pools sized to the worker's threads, then the shared
combination. The clients are built by the factory, in each worker.
"""

from __future__ import annotations

import multiprocessing.util
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import urllib3

from api_scoring.payloads import parse_score_body
from api_scoring.settings import ScoringSettings
from benchmark.minimal.protocol_sync import StartResponse, serve
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

# redis-py through this module (not ``import redis``), so that the sync app never loads the async client.
from feature_store.redis_without_asyncio import redis
from feature_store.schema import FEATURE_NAMES, entity_key
from feature_store.vector import Vector, vector_from_store
from service_runtime.core import jsonio
from service_runtime.core.deadline import Deadline, deadline_exceeded
from service_runtime.core.errors import ApiError, model_unavailable
from service_runtime.core.server_settings import ServerSettings


class ScoringApp:
    """The predict route and the liveness route; one Redis pool, one set of HTTP pools and one fan-out pool."""

    def __init__(self, plan: ScoringPlan, concurrency: int) -> None:
        self.plan = plan
        # Blocking: a thread waits (boundedly) for a free connection rather than failing; no retries.
        self._redis = redis.Redis(
            connection_pool=redis.BlockingConnectionPool.from_url(
                plan.redis_url, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
                **pool_kwargs(plan.redis_timeout_s, plan.redis_connect_timeout_s, plan.redis_pool),
            )
        )  # fmt: skip
        # One connection kept per concurrent caller for each model; beyond that one is opened and dropped.
        self._pools = urllib3.PoolManager(maxsize=plan.model_pool, block=False, retries=False)
        self._models = {label: (self._pools.connection_from_url(url), urlsplit(url).path)
                        for label, url in plan.model_urls.items()}  # fmt: skip
        self._fanout = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fanout")

    def close(self) -> None:
        """Stop the fan-out pool and close every connection."""
        self._fanout.shutdown(wait=True)
        self._pools.clear()
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return serve(environ, start_response, self.plan.path, self.plan.max_body_bytes, self._score)

    def _score(self, raw: bytes) -> bytes:
        deadline = Deadline(self.plan.deadline_s)
        request = parse_score_body(raw)
        vector = request.features or self._features(request.entity_id, deadline)
        body = jsonio.dumps(vector)
        # model_a on the pool, model_b on this thread: one thread hop instead of two.
        future_a = self._fanout.submit(self._predict, "model_a", body, deadline)
        outcome_b = self._predict("model_b", body, deadline)
        try:
            outcome_a = future_a.result(timeout=deadline.remaining())
        except FutureTimeout:
            future_a.cancel()  # still queued behind busy threads: drop it
            outcome_a = deadline_exceeded()
        return scoring_answer(request.entity_id, outcome_a, outcome_b)

    def _features(self, entity_id: str, deadline: Deadline) -> Vector:
        """One HMGET; redis-py has no per-call timeout, so the pool's socket timeout bounds it, and it is only
        started if that much of the deadline is left."""
        deadline.timeout(self.plan.redis_timeout_s)
        try:
            values = self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
        except redis.RedisError as exc:
            raise read_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    def _predict(self, label: str, body: bytes, deadline: Deadline) -> Outcome:
        """One model's prediction; connect and each read within the model timeout and what is left of the deadline."""
        pool, path = self._models[label]
        try:
            budget = deadline.timeout(self.plan.model_timeout_s)
            timeout = urllib3.Timeout(connect=min(self.plan.model_connect_timeout_s, budget), read=budget)
            response = pool.urlopen("POST", path, body=body, headers=JSON_HEADERS, timeout=timeout, retries=False,
                                    preload_content=False)  # fmt: skip
        except ApiError as err:
            return err
        except urllib3.exceptions.HTTPError as exc:
            return model_unavailable(label, type(exc).__name__)
        whole = False
        try:
            check_answer_head(
                label, response.status, response.headers.get("Content-Length"), self.plan.max_answer_bytes
            )
            raw = response.read()
            whole = True
        except ApiError as err:
            return err
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return model_unavailable(label, type(exc).__name__)
        finally:
            if not whole:
                response.close()  # what is left unread must not reach the next request on this connection
            response.release_conn()
        return model_outcome(label, raw)


def create_app() -> ScoringApp:
    """Build the app in each Granian worker (``--factory``) from ``SCORING_*`` settings, its pools sized to the
    worker's threads as the real sync scoring service sizes them (``SERVER_*``)."""
    concurrency = ServerSettings().in_flight_limit()
    app = ScoringApp(ScoringPlan(ScoringSettings(), "sync", concurrency), concurrency)
    # Granian's workers are multiprocessing children, which end without running atexit: this runs at their exit.
    multiprocessing.util.Finalize(app, app.close, exitpriority=0)
    return app
