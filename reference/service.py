"""What every request of every service goes through, whatever the framework: ids, deadline, admission, metrics."""

from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily

from reference.core import ApiError, body_too_large, deadline_exceeded
from reference.settings import ServiceSettings

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_START_HEADER = "x-request-start"  # the edge's stamp of a request's arrival: t=<seconds since the epoch>
SERVER_TIMING_HEADER = "Server-Timing"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
access_log = logging.getLogger("service.access")


class Deadline:
    """The point in time by which a request must be answered; every call it makes gets what is left."""

    __slots__ = ("at",)

    def __init__(self, budget_s: float, start: float) -> None:
        self.at = start + budget_s  # a time.monotonic() value; inf: no deadline

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - time.monotonic())

    def timeout(self, cap_s: float) -> float:
        """The next call's timeout: its own cap, or what is left if less; a 503 when nothing is left."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise deadline_exceeded()
        return min(cap_s, left)


class Stages:
    """How long each named stage of a request took (sent back as ``Server-Timing``), and which failed."""

    __slots__ = ("durations", "failed", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.durations: dict[str, float] = {}
        self.failed: dict[str, str] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``; an outage (a 5xx, or any other exception) counts as its failure."""
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, ApiError) or exc.status >= 500:
                self.failed[name] = exc.code if isinstance(exc, ApiError) else type(exc).__name__
            raise
        finally:
            self.durations[name] = time.perf_counter() - started

    def header(self) -> str:
        """``redis;dur=0.412, model_a;dur=45.118, ..., total;dur=48.900`` (milliseconds)."""
        total = time.perf_counter() - self.started
        return ", ".join(f"{n};dur={s * 1000:.3f}" for n, s in [*self.durations.items(), ("total", total)])


@dataclass(slots=True)
class RequestContext:
    """One request's id, deadline and stage timings: built by the middleware, read by handlers and clients."""

    request_id: str
    deadline: Deadline
    stages: Stages = field(default_factory=lambda: Stages(time.perf_counter()))

    def outbound_headers(self) -> dict[str, str]:
        """Headers that carry this request's id to the services it calls."""
        return {REQUEST_ID_HEADER: self.request_id}


class Admission:
    """Refuses at once (503) what a worker cannot serve in time: past its in-flight limit, or when the request's
    deadline leaves less than the time serving one takes here, a low expectile of recent successful answers (it
    falls fast toward quick answers, rises slowly with slow ones, and decays while everything is refused)."""

    FASTER, SLOWER, DECAY = 0.15, 0.05, 0.98

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.service_s = 0.0  # admits everything until the first answers teach it
        self._lock = threading.Lock()  # a sync worker's threads share it

    def enter(self, ctx: RequestContext, timed: bool) -> ApiError | None:
        """Count the request in, or say why it is refused."""
        with self._lock:
            if self.in_flight >= self.limit:
                return overloaded(f"the worker is at its limit of {self.limit} requests in flight")
            left = ctx.deadline.remaining()
            if timed and left < self.service_s:
                self.service_s *= self.DECAY
                return overloaded(
                    f"{left * 1000:.0f} ms of its deadline left, serving takes {self.service_s * 1000:.0f}"
                )
            self.in_flight += 1
            return None

    def leave(self, timed: bool, status: int, seconds: float) -> None:
        """Count the request out; a successful timed answer teaches how long serving takes."""
        with self._lock:
            self.in_flight -= 1
            if timed and status == 200:
                weight = self.FASTER if seconds < self.service_s else self.SLOWER
                self.service_s = (
                    seconds if self.service_s == 0 else self.service_s + weight * (seconds - self.service_s)
                )


def error_headers(error: ApiError) -> dict[str, str]:
    """The headers an error answer carries: when to retry a 503; for a 413, that the connection closes (the body's
    unread rest would otherwise be taken for the next request)."""
    if error.status == 503:
        return {"Retry-After": "1"}
    return {"Connection": "close"} if error.status == 413 else {}


def overloaded(reason: str) -> ApiError:
    """503 ``overloaded``: refused at once rather than answered late."""
    return ApiError(503, "overloaded", f"refused: {reason}; retry later")


@dataclass
class Service:
    """How one service treats every request: the ids, deadline and admission it gives it, what it records of it."""

    name: str
    deadline_s: float = math.inf
    in_flight_limit: int = 256
    trust_request_start: bool = False
    log_every_request: bool = False
    timed_routes: frozenset[str] = frozenset()  # the routes whose answers teach admission how long serving takes
    upstreams: frozenset[str] = frozenset()  # the stages that are calls to other services
    max_body_bytes: int = 65_536
    probes: frozenset[str] = frozenset()  # more paths answered even when the worker is full, unmeasured
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.admission = Admission(self.in_flight_limit)
        for series in (IN_FLIGHT, SHED, DEGRADED):
            series.labels(self.name)  # every series a dashboard plots exists, at 0, from the start

    @classmethod
    def of(cls, settings: ServiceSettings, stack: str, timed_routes: Iterable[str], deadline_s: float = math.inf,
           upstreams: Iterable[str] = (), probes: Iterable[str] = ()) -> Service:  # fmt: skip
        """The service ``settings`` describe, on ``stack``."""
        return cls(
            name=settings.name,
            deadline_s=deadline_s,
            in_flight_limit=settings.in_flight_limit(stack),
            trust_request_start=settings.trust_request_start,
            log_every_request=settings.access_log,
            timed_routes=frozenset(timed_routes),
            upstreams=frozenset(upstreams),
            max_body_bytes=settings.max_body_bytes,
            probes=frozenset(probes),
        )

    def begin(self, path: str, request_id: str | None, request_start: str | None,
              content_length: str | None = None) -> tuple[RequestContext, ApiError | None]:  # fmt: skip
        """A new request's context, and why it is refused, if it is: a body declared over the limit is refused
        before any of it is read."""
        arrived = time.monotonic()
        if self.trust_request_start and (stamped := arrival_from_stamp(request_start)) is not None:
            arrived = stamped  # time queued at the edge counts against the deadline
        valid = request_id is not None and _REQUEST_ID.fullmatch(request_id)
        ctx = RequestContext(
            request_id if valid else f"{random.getrandbits(128):032x}", Deadline(self.deadline_s, arrived)
        )
        if content_length and content_length.isdigit() and int(content_length) > self.max_body_bytes:
            return ctx, body_too_large(self.max_body_bytes)
        refused = self.admission.enter(ctx, path in self.timed_routes)
        if refused is None:
            IN_FLIGHT.labels(self.name).inc()
        else:
            SHED.labels(self.name).inc()
        return ctx, refused

    def finish(
        self, ctx: RequestContext, path: str, route: str | None, method: str, status: int, admitted: bool
    ) -> None:
        """Record the answer: metrics by route template (``other`` when none matched), and a log line for server
        errors, or for every request with ``ACCESS_LOG``."""
        seconds = time.perf_counter() - ctx.stages.started
        if admitted:
            self.admission.leave(path in self.timed_routes, status, seconds)
            IN_FLIGHT.labels(self.name).dec()
        label, method = route or "other", method if method in KNOWN_METHODS else "other"
        requests, duration = _request_series(self.name, label, method, status)
        requests.inc()
        duration.observe(seconds)
        for upstream, took in ctx.stages.durations.items():
            if upstream in self.upstreams:
                _upstream_series(self.name, upstream).observe(took)
        for upstream, reason in ctx.stages.failed.items():
            UPSTREAM_ERRORS.labels(self.name, upstream, reason).inc()
        if status == 200 and ctx.stages.failed:
            DEGRADED.labels(self.name).inc()
        if self.log_every_request or status >= 500:
            access_log.log(logging.WARNING if status >= 500 else logging.INFO, "request", extra={
                "service": self.name, "method": method, "path": label, "status": status,
                "duration_ms": round(seconds * 1000, 3), "request_id": ctx.request_id,
                "failed": ctx.stages.failed or None})  # fmt: skip


def arrival_from_stamp(stamp: str | None) -> float | None:
    """The ``time.monotonic()`` of an arrival stamped ``t=<epoch seconds>``, clamped to the last hour; else None."""
    if not stamp or not stamp.startswith("t="):
        return None
    try:
        age = time.time() - float(stamp[2:])
    except ValueError:
        return None
    return time.monotonic() - min(max(0.0, age), 3600.0) if age == age else None  # NaN is no stamp


def readiness(checks: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """200 when every dependency is ``ok``, else 503 naming the ones that are not."""
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        body = ApiError(503, "not_ready", f"unavailable: {', '.join(failed)}", checks=dict(checks)).body()
        return 503, body
    return 200, {"status": "ready", "checks": dict(checks)}


# Prometheus, summed over a service's workers: gunicorn's config points PROMETHEUS_MULTIPROC_DIR at one fresh
# directory per service before it forks; without it (one process) the default registry serves.
# Finest around a 40-50 ms model and the 100 ms p99 target.
BUCKETS = (0.005, 0.01, 0.025, *(ms / 1000 for ms in range(40, 105, 5)), 0.125, 0.15, 0.2, 0.3, 0.5, 1, 2.5)
REQUESTS = Counter("http_requests_total", "Requests answered.", ["service", "path", "method", "status"])
DURATION = Histogram("http_request_duration_seconds", "Time to answer.", ["service", "path", "method"], buckets=BUCKETS)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served.", ["service"], multiprocess_mode="livesum")
SHED = Counter("http_requests_shed_total", "Requests refused at once with 503.", ["service"])
UPSTREAM_DURATION = Histogram("upstream_request_duration_seconds", "Time of each call to a dependency.",
                              ["service", "upstream"], buckets=BUCKETS)  # fmt: skip
UPSTREAM_ERRORS = Counter("upstream_errors_total", "Failed calls to a dependency.", ["service", "upstream", "reason"])
DEGRADED = Counter("scoring_degraded_answers_total", "Answers given without one of the models.", ["service"])


# Looked up once per worker: the label sets are few and fixed (routes, known methods, statuses).
@lru_cache(maxsize=1024)
def _request_series(service: str, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(service, route, method, str(status)), DURATION.labels(service, route, method)


@lru_cache(maxsize=64)
def _upstream_series(service: str, upstream: str) -> Histogram:
    return UPSTREAM_DURATION.labels(service, upstream)


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(ServiceCpu())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class ServiceCpu:
    """``service_cpu_seconds_total``: the CPU of every process of the service (its process group), read from
    ``/proc`` at each scrape, so that dashboards divide it by the requests answered."""

    TICKS = os.sysconf("SC_CLK_TCK")

    def collect(self) -> Iterator[CounterMetricFamily]:
        group, ticks = os.getpgid(0), 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if int(fields[2]) == group:  # pgrp, then utime, stime, cutime, cstime
                ticks += sum(int(f) for f in fields[11:15])
        metric = CounterMetricFamily("service_cpu_seconds", "CPU used by the service's processes.")
        metric.add_metric([], ticks / self.TICKS)
        yield metric
