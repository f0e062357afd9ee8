"""Prometheus metrics of every service, correct with several gunicorn workers.

gunicorn's config sets ``PROMETHEUS_MULTIPROC_DIR`` (one empty directory per service) before
forking, so each worker writes its samples to shared files and ``/metrics`` sums them.
Without the variable (a single process, e.g. a test client) the default registry is used.
"""

from __future__ import annotations

import os
from functools import lru_cache

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

from service_runtime.core.context import UPSTREAMS
from service_runtime.core.proc import group_cpu_s
from service_runtime.core.timing import Stages

# Around the 40-50 ms simulated inference, and the 100 ms p99 target.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15, 0.2, 0.3,
                   0.5, 1.0, 2.5)  # fmt: skip

REQUESTS = Counter("http_requests_total", "Requests answered.", ["service", "path", "method", "status"])
DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer a request.", ["service", "path", "method"], buckets=LATENCY_BUCKETS
)
IN_FLIGHT = Gauge("http_requests_in_flight", "Requests being served.", ["service"], multiprocess_mode="livesum")
SHED = Counter(
    "http_requests_shed_total", "Requests refused with 503 because the worker was at its limit.", ["service"]
)
UPSTREAM_DURATION = Histogram(
    "upstream_request_duration_seconds", "Time of each call to a dependency.", ["service", "upstream"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
UPSTREAM_ERRORS = Counter("upstream_errors_total", "Failed calls to a dependency.", ["service", "upstream", "reason"])
DEGRADED = Counter("scoring_degraded_answers_total", "Answers given without one of the models.", ["service"])


def observe_request(service: str, path: str, method: str, status: int, durations: dict[str, float],
                    stages: Stages) -> None:  # fmt: skip
    """Record one answered request (``durations`` is ``stages.durations()``, taken once) and its upstream calls."""
    requests, duration = _request_children(service, path, method, status)
    requests.inc()
    duration.observe(durations["total"])
    for upstream in UPSTREAMS:
        if upstream in durations:
            _upstream_duration(service, upstream).observe(durations[upstream])
    failures = stages.failures()
    for upstream, reason in failures.items():
        UPSTREAM_ERRORS.labels(service, upstream, reason).inc()
    if status == 200 and failures:  # answered all the same: without the models that failed
        DEGRADED.labels(service).inc()


def service_children(service: str) -> tuple[Gauge, Counter]:
    """A service's in-flight gauge and shed counter; its degraded-answers counter is declared too, so that every
    series a dashboard plots exists (at 0) before the first event."""
    DEGRADED.labels(service)
    return IN_FLIGHT.labels(service), SHED.labels(service)


# ``.labels()`` takes a lock and builds a key on every call; the label sets are few and fixed
# (paths are bounded by ServicePolicy.path_label), so each child is looked up once per worker.
@lru_cache(maxsize=1024)
def _request_children(service: str, path: str, method: str, status: int) -> tuple[Counter, Histogram]:
    return REQUESTS.labels(service, path, method, str(status)), DURATION.labels(service, path, method)


@lru_cache(maxsize=64)
def _upstream_duration(service: str, upstream: str) -> Histogram:
    return UPSTREAM_DURATION.labels(service, upstream)


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body (summed over workers when in multiprocess mode) and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(ServiceCpu())
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class ServiceCpu:
    """``service_cpu_seconds_total``: the CPU of the whole service (its server's master and every worker, the
    process group it runs in, workers the master reaped included), read from ``/proc`` at each scrape; per-process
    metrics cannot be summed over workers in multiprocess mode. With the request counters it gives CPU per request."""

    def collect(self):
        """One sample: the CPU seconds of this process group."""
        metric = CounterMetricFamily("service_cpu_seconds", "CPU used by the service's processes (all workers).")
        metric.add_metric([], group_cpu_s({os.getpgid(0)}))
        yield metric
