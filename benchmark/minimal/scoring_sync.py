"""``ScoringApp``: the minimal sync scoring service, a raw WSGI app (Granian, WSGI, blocking threads).

Features from redis-py, every model at once (all but the last on a thread pool, the last on the request's thread)
over urllib3 pools sized to the worker's threads, then the reference's combination. The clients are built by the
factory, in each worker.
"""

from __future__ import annotations

import multiprocessing.util
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import redis
import urllib3
from redis.backoff import NoBackoff
from redis.retry import Retry

from benchmark.minimal.protocol import JSON_TYPE, parse
from benchmark.minimal.protocol_sync import StartResponse, serve
from benchmark.minimal.scoring import (
    Deadline,
    Outcome,
    ScoringPlan,
    check_answer_head,
    model_failure,
    model_outcome,
    predict_body,
    scoring_answer,
)
from reference.api import ScoreRequest
from reference.core import FEATURE_NAMES, ApiError, Vector, entity_key, store_failure, unavailable, vector_from_store
from reference.settings import ScoringSettings

JSON_HEADERS = {"Content-Type": JSON_TYPE}


class ScoringApp:
    """The predict route and the liveness route; one Redis pool, one set of HTTP pools and one fan-out pool."""

    def __init__(self, plan: ScoringPlan) -> None:
        self.plan = plan
        # Blocking: a thread waits (boundedly) for a free connection rather than failing; no retries.
        pool = redis.BlockingConnectionPool.from_url(
            plan.redis_url, password=plan.redis_password, max_connections=plan.pool, timeout=plan.redis_timeout_s,
            socket_timeout=plan.redis_timeout_s, socket_connect_timeout=plan.connect_timeout_s,
            retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.Redis(connection_pool=pool)
        # One connection kept per concurrent caller for each model; beyond that one is opened and dropped.
        self._pools = urllib3.PoolManager(maxsize=plan.pool, block=False, retries=False)
        self._names = list(plan.models)
        self._models = [(name, self._pools.connection_from_url(url), urlsplit(url).path)
                        for name, url in plan.models.items()]  # fmt: skip
        self._fanout = ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="fan-out")

    def close(self) -> None:
        """Stop the fan-out's threads and close every connection."""
        self._fanout.shutdown(wait=True)
        self._pools.clear()
        self._redis.close()
        self._redis.connection_pool.disconnect()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return serve(environ, start_response, self.plan.path, self.plan.max_body_bytes, self._score)

    def _score(self, content_type: str | None, raw: bytes) -> bytes:
        deadline = Deadline(self.plan.deadline_s)
        request = parse(content_type, raw, ScoreRequest)
        vector = tuple(request.features) if request.features else self._features(request.entity_id, deadline)
        body = predict_body(vector)
        # Every model but the last on the pool, the last on this thread: one thread hop fewer.
        *others, last = self._models
        futures = [self._fanout.submit(self._predict, *model, body, deadline) for model in others]
        outcome = self._predict(*last, body, deadline)
        outcomes = []
        for (name, _, _), future in zip(others, futures, strict=True):
            try:
                outcomes.append(future.result(timeout=deadline.remaining()))
            except FutureTimeout:
                future.cancel()  # still queued behind busy threads: dropped
                outcomes.append(unavailable("deadline_exceeded", "deadline passed waiting for a thread", [name]))
        return scoring_answer(request.entity_id, self._names, [*outcomes, outcome])

    def _features(self, entity_id: str, deadline: Deadline) -> Vector:
        """One HMGET; redis-py has no per-call timeout, so the pool's socket timeout bounds it, and it is only
        started if that much of the deadline is left."""
        deadline.timeout(self.plan.redis_timeout_s)
        try:
            values = self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
        except redis.RedisError as exc:
            raise store_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    def _predict(self, name: str, pool: urllib3.HTTPConnectionPool, path: str, body: bytes,
                 deadline: Deadline) -> Outcome:  # fmt: skip
        """One model's prediction; connect and each read within the model timeout and what is left of the deadline."""
        try:
            budget = deadline.timeout(self.plan.model_timeout_s)
            timeout = urllib3.Timeout(connect=min(self.plan.connect_timeout_s, budget), read=budget)
            response = pool.urlopen("POST", path, body=body, headers=JSON_HEADERS, timeout=timeout, retries=False,
                                    preload_content=False)  # fmt: skip
        except ApiError as error:
            return error
        except urllib3.exceptions.HTTPError as exc:
            return model_failure(name, "request", type(exc).__name__)
        whole = False
        try:
            check_answer_head(name, response.status, response.headers.get("Content-Length"), self.plan.max_answer_bytes)
            raw = response.read()
            whole = True
        except ApiError as error:
            return error
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return model_failure(name, "read", type(exc).__name__)
        finally:
            if not whole:
                response.close()  # what is left unread must not reach the next request on this connection
            response.release_conn()
        return model_outcome(name, raw)


def create_app() -> ScoringApp:
    """The app each Granian worker builds (``benchmark.minimal.scoring_sync:create_app``) from ``SCORING_*``."""
    app = ScoringApp(ScoringPlan(ScoringSettings(), "sync"))
    # Granian's workers are multiprocessing children, which end without running atexit: this runs at their exit.
    multiprocessing.util.Finalize(app, app.close, exitpriority=0)
    return app
