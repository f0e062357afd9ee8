"""What the two stacks' service wirings share: the description of a service, its limits, and its answers.

``service_async.service_app`` (FastAPI) and ``service_sync.service_app`` (Flask) turn a ``Service``
into an app; everything here is plain Python so that both behave the same.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service_runtime.core import jsonio
from service_runtime.core.arrival import arrival_from_stamp
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError, error_body
from service_runtime.core.lifecycle import is_draining
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import (
    HEALTHCHECK_PATH,
    METRICS_PATH,
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    READINESS_PATH,
    Stack,
    predict_path,
)
from service_runtime.core.tracing import Trace
from service_runtime.web.metrics import observe_request

log = logging.getLogger("service.access")

# Probes and scrapes are neither limited nor measured: they must answer even when the worker is full.
UNMETERED_PATHS = frozenset({HEALTHCHECK_PATH, READINESS_PATH, METRICS_PATH, OIP_LIVE_PATH, OIP_READY_PATH})
# Metric labels take values from fixed sets: a client choosing the method or path cannot add series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SHED_HEADERS = {"Retry-After": "1", "Content-Type": jsonio.JSON_MEDIA_TYPE}


@dataclass(frozen=True)
class ServicePolicy:
    """How a service's middleware treats requests."""

    name: str
    max_in_flight: int
    deadline_s: float = math.inf
    access_log: bool = False
    known_paths: frozenset[str] = frozenset()
    trust_request_start: bool = False  # behind the edge: count the deadline from its x-request-start stamp
    request_timeout_s: float = math.inf  # the whole request must have arrived this long after its arrival
    # Routes with one variable last segment, as (prefix, label): ``/api/v1/ml/async/jobs/`` -> ``.../{job_id}``.
    path_templates: tuple[tuple[str, str], ...] = ()
    # The route whose answers teach the worker how long serving takes (the admission rule's estimate): the
    # predict route; answers of cheaper routes (a job's status) would make it admit requests it cannot serve.
    timed_paths: frozenset[str] = frozenset()

    def context(self, request_id: str | None, traceparent: str | None, arrived: float | None = None) -> RequestContext:
        """A new request's context: its ids (continued or fresh), its deadline from its arrival, its stage timer.

        Its body must arrive by the request timeout or the deadline, whichever comes first.
        """
        trace = Trace.from_headers(request_id, traceparent)
        start = time.monotonic() if arrived is None else arrived
        deadline = Deadline(self.deadline_s, start=start)
        return RequestContext(trace=trace, deadline=deadline, read_by=min(start + self.request_timeout_s, deadline.at))

    def arrival(self, stamp: str | None, seen: float | None) -> float | None:
        """When the request arrived: the edge's stamp if trusted, else when the server saw it, else None (now)."""
        stamped = arrival_from_stamp(stamp) if self.trust_request_start else None
        return stamped if stamped is not None else seen

    def refusal(self, ctx: RequestContext, path: str, in_flight: int, service_time: ServiceTime) -> ApiError | None:
        """Why a request must be refused at once, or None to serve it.

        The admission rule of both stacks: a request is served if the worker has room and its deadline leaves at
        least the time this worker takes to serve one; otherwise it gets a fast 503 rather than a late answer.
        Only the timed routes (predict, the model's inference) are judged by their serving time: a job submission
        or a metrics scrape takes far less than a prediction.
        """
        if in_flight >= self.max_in_flight:
            return overloaded(self.max_in_flight)
        if path not in self.timed_paths:
            return None
        left = ctx.deadline.remaining()
        if left < service_time.seconds:
            service_time.refused()
            return too_late(left, service_time.seconds)
        return None

    def path_label(self, path: str) -> str:
        """The metric label of a path: known routes by name (or template), anything else as ``other`` (bounded
        cardinality)."""
        if path in self.known_paths:
            return path
        for prefix, label in self.path_templates:
            rest = path[len(prefix) :] if path.startswith(prefix) else ""
            if rest and "/" not in rest:
                return label
        return "other"

    @staticmethod
    def method_label(method: str) -> str:
        """The metric label of a method: the standard ones by name, anything else as ``other``."""
        return method if method in KNOWN_METHODS else "other"

    def finish(self, ctx: RequestContext, path: str, method: str, status: int) -> float:
        """Record metrics and, for server errors or when enabled, a JSON access log line; return the seconds spent."""
        durations = ctx.stages.durations()
        label, method = self.path_label(path), self.method_label(method)
        observe_request(self.name, label, method, status, durations, ctx.stages)
        if self.access_log or status >= 500:
            log.log(
                logging.WARNING if status >= 500 else logging.INFO,
                "request",
                extra={
                    "service": self.name,
                    "method": method,
                    "path": label,
                    "status": status,
                    "duration_ms": round(durations["total"] * 1000, 3),
                    "request_id": ctx.trace.request_id,
                    "trace_id": ctx.trace.trace_id,
                    "failed": ctx.stages.failures() or None,
                },
            )
        return durations["total"]


class ServiceTime:
    """How long this worker takes to serve a request when nothing gets in the way, learned from its answers.

    A low expectile of recent successful service times: it falls quickly toward fast answers and rises
    slowly with slow ones, so a burst that makes every answer slow for a moment does not make the worker
    refuse requests that could still be served in time. A request is refused only when even that time
    is more than its deadline leaves.
    """

    __slots__ = ("seconds",)
    # Weights of an answer faster, and slower, than the estimate: a 0.25-expectile, following a change of
    # load within some tens of requests.
    FASTER, SLOWER = 0.15, 0.05
    # Per refusal for lack of time: about 35 refusals in a row halve the estimate.
    DECAY = 0.98

    def __init__(self) -> None:
        self.seconds = 0.0  # admits everything until the first answers are in

    def refused(self) -> None:
        """A request was refused for lack of time. While everything is refused no answer teaches the estimate, so
        each refusal lets it decay a little: a stale estimate (learned under an overload that has passed) cannot
        refuse every request for good, and the requests it then lets through teach it again."""
        self.seconds *= self.DECAY

    def observe(self, status: int, seconds: float) -> None:
        """Learn from one answer (only successful ones say how long serving takes)."""
        if status != 200:
            return
        if self.seconds == 0.0:
            self.seconds = seconds
        else:
            self.seconds += (self.FASTER if seconds < self.seconds else self.SLOWER) * (seconds - self.seconds)


def service_policy(server: ServerSettings, stack: Stack, deadline_s: float = math.inf,
                   routes: Iterable[str] = (), timed: Iterable[str] = ()) -> ServicePolicy:  # fmt: skip
    """The limits, deadline and metric labels of a service of ``stack`` served as ``server`` describes: its predict
    route and its other ``routes`` (a template such as ``/jobs/{job_id}`` for a variable last segment); the
    predict route and the ``timed`` ones teach the worker how long serving takes (its admission rule)."""
    paths = {predict_path(stack), *routes}
    templates = tuple((p[: p.rindex("/") + 1], p) for p in sorted(paths) if p.endswith("}"))
    return ServicePolicy(
        name=server.name,
        max_in_flight=server.in_flight_limit(),
        deadline_s=deadline_s,
        access_log=server.access_log,
        known_paths=frozenset(p for p in paths if not p.endswith("}")),
        trust_request_start=server.trust_request_start,
        request_timeout_s=server.request_timeout_s,
        path_templates=templates,
        timed_paths=frozenset({predict_path(stack), *timed}),
    )


@dataclass(frozen=True)
class Service:
    """Everything a framework needs to serve one of this project's services, framework-free."""

    name: str  # the short name profiles are filed under: scoring, model_a, model_b
    stack: str
    policy: ServicePolicy
    openapi: dict[str, Any] = field(hash=False)

    @property
    def title(self) -> str:
        """The document's title, e.g. ``scoring (async)``."""
        return self.openapi["info"]["title"]


def overloaded(limit: int) -> ApiError:
    """A 503 for a request refused because the worker already serves ``limit`` requests."""
    return ApiError(503, "overloaded", f"server is at its limit of {limit} requests in flight per worker; retry later")


def too_late(left_s: float, needed_s: float) -> ApiError:
    """A 503 for a request that waited so long that it can no longer be answered within its deadline."""
    return ApiError(
        503, "overloaded",
        f"the request waited too long: {left_s * 1000:.0f} ms of its deadline left, serving takes about "
        f"{needed_s * 1000:.0f} ms; retry later",
    )  # fmt: skip


def readiness_answer(checks: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The readiness status and body: 503 while draining or when a dependency is not ``ok``, else 200."""
    if is_draining():
        return 503, error_body(503, "draining", "shutting down; send no new requests")
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return 503, error_body(503, "not_ready", f"unavailable: {', '.join(failed)}", checks=dict(checks))
    return 200, {"status": "ready", "checks": dict(checks)}
