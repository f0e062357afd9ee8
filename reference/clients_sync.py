"""The sync scoring service's clients: the feature store over redis-py, the models over urllib3's pools."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor
from urllib.parse import urlsplit

import redis
import urllib3
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from reference.api import Prediction, PredictRequest, liveness_url
from reference.core import (
    FEATURE_NAMES,
    SEED_MARKER_KEY,
    ApiError,
    Vector,
    entity_key,
    store_failure,
    unavailable,
    vector_from_store,
)
from reference.service import RequestContext
from reference.settings import ScoringSettings

log = logging.getLogger(__name__)
JSON = {"Content-Type": "application/json"}
CHUNK_BYTES = 16_384


class FeatureReader:
    """Reads an entity's features with one HMGET over a bounded pool of connections."""

    def __init__(self, settings: ScoringSettings) -> None:
        # A blocking pool waits for a free connection (bounded by ``timeout``) rather than failing at once; no
        # retries (redis-py retries 10 times by default): a dead Redis is a fast 503, not a stall.
        pool = redis.BlockingConnectionPool.from_url(
            settings.redis_url, password=settings.redis_password_value(), max_connections=settings.pool("sync"),
            timeout=settings.redis_timeout_s, socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.connect_timeout_s, retry=Retry(NoBackoff(), 0), protocol=2,
        )  # fmt: skip
        self._redis = redis.Redis(connection_pool=pool)
        self._timeout_s = settings.redis_timeout_s

    def get(self, entity_id: str, ctx: RequestContext) -> Vector:
        """The entity's vector within what is left of the deadline; 404, 422 or 503 as an ``ApiError``."""
        with ctx.stages.stage("redis"):
            # redis-py has no per-call timeout: the socket timeout bounds the call, so start it only if that much
            # of the deadline is left.
            ctx.deadline.timeout(self._timeout_s)
            try:
                values = self._redis.hmget(entity_key(entity_id), FEATURE_NAMES)
            except redis.RedisError as exc:
                raise store_failure(entity_id, exc) from exc
        return vector_from_store(entity_id, values)

    def check(self) -> str:
        """``ok`` when Redis answers and holds a complete seed, ``unseeded`` when it does not, else why not."""
        try:
            return "ok" if self._redis.exists(SEED_MARKER_KEY) else "unseeded"
        except redis.RedisError as exc:
            return type(exc).__name__

    def close(self) -> None:
        """Close every pooled connection."""
        self._redis.close()
        self._redis.connection_pool.disconnect()


class ModelClient:
    """Calls one model service's predict route; its failures come back as 503s naming the model."""

    def __init__(self, name: str, url: str, pools: urllib3.PoolManager, settings: ScoringSettings) -> None:
        self.name, self.url = name, url
        self._pool = pools.connection_from_url(url)  # resolved once, not on every call
        self._path, self._live = urlsplit(url).path, urlsplit(liveness_url(url)).path
        self._timeout_s, self._connect_s = settings.model_timeout_s, settings.connect_timeout_s
        self._max_bytes = settings.max_answer_bytes

    def predict(self, vector: Vector, ctx: RequestContext) -> Prediction:
        """The model's prediction; the call (connect, send, the answer) within the deadline.

        urllib3 bounds each socket read, not the whole answer: the answer is read one read at a time and the
        call's budget checked between reads, so a server dripping its answer holds a call one read past it at most.
        """
        with ctx.stages.stage(self.name):
            budget = ctx.deadline.timeout(self._timeout_s)
            ends = time.monotonic() + budget
            body = PredictRequest(features=list(vector)).model_dump_json()
            try:
                response = self._pool.urlopen(
                    "POST", self._path, body=body, headers=JSON | ctx.outbound_headers(), retries=False,
                    timeout=urllib3.Timeout(connect=min(self._connect_s, budget), read=budget), preload_content=False,
                )  # fmt: skip
            except urllib3.exceptions.HTTPError as exc:
                raise self._failure("request", type(exc).__name__) from exc
            raw = self._read(response, ends)
            try:
                return Prediction.model_validate_json(raw)
            except ValidationError as exc:
                raise self._failure("parse", type(exc).__name__) from exc

    def _read(self, response: urllib3.BaseHTTPResponse, ends: float) -> bytes:
        """The whole answer, refused without being buffered once it is over the size bound; the connection goes
        back to the pool only after a whole answer (an unread rest would reach the next request)."""
        whole = False
        try:
            if response.status != 200:
                raise self._failure("status", f"HTTP {response.status}")
            if int(response.headers.get("Content-Length") or 0) > self._max_bytes:
                raise self._failure("read", f"answer larger than {self._max_bytes} bytes")
            chunks, size = [], 0
            while chunk := response.read1(CHUNK_BYTES):
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._failure("read", f"answer larger than {self._max_bytes} bytes")
                if time.monotonic() >= ends:
                    raise self._failure("read", "TimeoutError")
                chunks.append(chunk)
            whole = True
            return b"".join(chunks)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failure("read", type(exc).__name__) from exc
        finally:
            if not whole:
                response.close()
            response.release_conn()

    def _failure(self, phase: str, reason: str) -> ApiError:
        # Logged where it happened, so that a failure under load can be explained afterwards.
        log.warning("model call failed", extra={"model": self.name, "phase": phase, "reason": reason})
        return unavailable("model_unavailable", f"model {self.name!r} unavailable: {reason} ({phase})", [self.name])

    def outcome(self, vector: Vector, ctx: RequestContext) -> Prediction | ApiError:
        """``predict``, its failure returned rather than raised (a fan-out keeps what the others answered)."""
        try:
            return self.predict(vector, ctx)
        except ApiError as error:
            return error

    def check(self) -> str:
        """``ok`` when the model service answers its liveness probe, else why not."""
        try:
            response = self._pool.urlopen("GET", self._live, timeout=self._timeout_s, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            return type(exc).__name__
        return "ok" if response.status == 200 else f"HTTP {response.status}"


def open_pools(settings: ScoringSettings) -> urllib3.PoolManager:
    """Pools shared by the worker's threads (urllib3's are thread-safe), one connection kept per thread and model."""
    return urllib3.PoolManager(maxsize=settings.pool("sync"), block=False, retries=False)


def model_clients(settings: ScoringSettings, pools: urllib3.PoolManager) -> list[ModelClient]:
    """A client per model, named ``model_a``, ``model_b``... in the order of ``SCORING_MODEL_URLS``."""
    return [ModelClient(name, url, pools, settings) for name, url in settings.models("sync").items()]


def fan_out(clients: list[ModelClient], vector: Vector, ctx: RequestContext,
            threads: Executor) -> list[Prediction | ApiError]:  # fmt: skip
    """Every model's outcome, called in parallel: all but the last on the pool, the last on this thread."""
    *others, last = clients
    futures = [threads.submit(client.outcome, vector, ctx) for client in others]
    outcomes = [last.outcome(vector, ctx)]
    for client, future in zip(others, futures, strict=True):
        try:
            outcomes.insert(-1, future.result(timeout=ctx.deadline.remaining()))
        except TimeoutError:
            future.cancel()  # still queued behind busy threads: dropped
            outcomes.insert(-1, unavailable("deadline_exceeded", "deadline passed waiting for a thread", [client.name]))
    return outcomes
