"""``ModelClient``: the sync stack's model client (urllib3, one PoolManager per worker).

urllib3 is the connection pool that ``requests`` sends with. A fixed internal call needs none of
what requests adds on top (cookies, redirects, hooks, auth, environment merging), and that layer
cost more CPU than the rest of the call (doc/performance.md), so the client talks to urllib3.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol
from urllib.parse import urlsplit

import urllib3

from api_scoring.payloads import (
    ANSWER_CHUNK_BYTES,
    ModelPrediction,
    Outcome,
    answer_too_large,
    check_declared_length,
    parse_model_answer,
    settle,
)
from feature_store.vector import Vector
from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import deadline_exceeded
from service_runtime.core.errors import ApiError, model_unavailable
from service_runtime.core.topology import health_url

JSON_HEADERS = {"Content-Type": jsonio.JSON_MEDIA_TYPE}
Encode = Callable[[Vector], bytes]
Parse = Callable[[str, bytes], ModelPrediction]


def open_pools(pool_size: int) -> urllib3.PoolManager:
    """Connection pools keeping one connection per concurrent caller for each model host, without retries."""
    # Shared by the worker's threads: urllib3's pools are thread-safe. Beyond pool_size, an
    # extra connection is opened and then discarded (block=False), as requests does by default.
    return urllib3.PoolManager(maxsize=pool_size, block=False, retries=False)


class Predictor(Protocol):
    """What a model pair calls: any transport's model client (this module's, or the gRPC one)."""

    label: str

    def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """The prediction, or the failure."""
        ...

    def check(self, timeout_s: float) -> str:
        """``ok``, or why not."""
        ...


class ModelClient:
    """Calls one model service's predict endpoint."""

    def __init__(
        self, label: str, url: str, pools: urllib3.PoolManager, connect_timeout_s: float, timeout_s: float,
        max_answer_bytes: int, encode: Encode = jsonio.dumps, parse: Parse = parse_model_answer,
        check_url: str | None = None,
    ) -> None:  # fmt: skip
        """``url`` answers ``encode(vector)`` with what ``parse`` reads (by default the study's JSON route);
        ``check_url`` is its readiness check (by default the service's liveness route)."""
        self.label = label
        self._path = urlsplit(url).path
        self._health_path = urlsplit(check_url or health_url(url)).path
        self._pool = pools.connection_from_url(url)  # resolved once, not parsed on every call
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._max_answer_bytes = max_answer_bytes
        self._encode = encode
        self._parse = parse

    def predict(self, vector: Vector, ctx: RequestContext) -> ModelPrediction:
        """The model's prediction, timed as stage ``label`` and bounded by the deadline; a 503 when it gives none.

        The whole call (connect, send, every byte of the answer) ends within the model timeout and what is
        left of the deadline: urllib3's read timeout bounds each socket read, so the answer is read one read
        at a time, each with what is left. An answer over ``max_answer_bytes`` is refused, not buffered.
        """
        with ctx.stages.stage(self.label):
            budget = ctx.deadline.timeout(self._timeout_s)
            ends = time.monotonic() + budget
            try:
                response = self._pool.urlopen(
                    "POST",
                    self._path,
                    body=self._encode(vector),
                    headers=JSON_HEADERS | ctx.trace.outbound_headers(),
                    timeout=urllib3.Timeout(connect=min(self._connect_timeout_s, budget), read=budget),
                    retries=False,
                    preload_content=False,
                )
            except urllib3.exceptions.HTTPError as exc:
                raise model_unavailable(self.label, type(exc).__name__) from exc
            return self._parse(self.label, self._read(response, ends))

    def _read(self, response: urllib3.BaseHTTPResponse, ends: float) -> bytes:
        """The whole answer by ``ends``, within the size bound; the connection is reused only after a whole read."""
        whole = False
        try:
            if response.status != 200:
                raise model_unavailable(self.label, f"HTTP {response.status}")
            check_declared_length(self.label, response.headers.get("Content-Length"), self._max_answer_bytes)
            chunks, size = [], 0
            while True:
                if (connection := response.connection) is None:
                    whole = True  # urllib3 hands the connection back once the last byte is read
                    return b"".join(chunks)
                left = ends - time.monotonic()
                if left <= 0:
                    raise model_unavailable(self.label, "ReadTimeoutError")
                if connection.sock is not None:
                    connection.sock.settimeout(left)
                # else the server closes after this answer (gunicorn's sync worker) and http.client handed the socket
                # to the response: each read keeps this call's read timeout (the budget), and the check above ends
                # the loop at the deadline, so such a call ends within twice the budget at worst.
                chunk = response.read1(ANSWER_CHUNK_BYTES)
                if not chunk:
                    whole = True
                    return b"".join(chunks)
                size += len(chunk)
                if size > self._max_answer_bytes:
                    raise answer_too_large(self.label, self._max_answer_bytes)
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise model_unavailable(self.label, type(exc).__name__) from exc
        finally:
            if not whole:
                response.close()  # whatever is left unread must not reach the next request on this connection
            response.release_conn()

    def check(self, timeout_s: float) -> str:
        """``ok`` when the model service is live, else why not (for readiness)."""
        try:
            response = self._pool.urlopen("GET", self._health_path, timeout=timeout_s, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            return type(exc).__name__
        return "ok" if response.status == 200 else f"HTTP {response.status}"

    def outcome(self, vector: Vector, ctx: RequestContext) -> ModelPrediction | ApiError:
        """``predict``, with its failure returned instead of raised."""
        try:
            return self.predict(vector, ctx)
        except ApiError as err:
            return err


class ModelPair:
    """Both models, called in parallel on a thread pool or one after the other."""

    def __init__(self, model_a: Predictor, model_b: Predictor, executor: ThreadPoolExecutor | None) -> None:
        self._model_a = model_a
        self._model_b = model_b
        self._executor = executor

    def predict_both(self, vector: Vector, ctx: RequestContext) -> Outcome:
        """Predictions of model_a and model_b (in that order), degraded to one if the other fails."""
        if self._executor is None:
            outcome_a = self._model_a.outcome(vector, ctx)
            return settle([("model_a", outcome_a), ("model_b", self._model_b.outcome(vector, ctx))])
        # model_a on the pool, model_b on this thread: one thread hop instead of two.
        future_a = self._executor.submit(self._model_a.outcome, vector, ctx)
        outcome_b = self._model_b.outcome(vector, ctx)
        try:
            outcome_a = future_a.result(timeout=ctx.deadline.remaining())
        except FutureTimeout:
            future_a.cancel()  # still queued behind busy threads: drop it
            outcome_a = deadline_exceeded()
        return settle([("model_a", outcome_a), ("model_b", outcome_b)])
