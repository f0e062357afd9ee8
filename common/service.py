"""What the two stacks' middlewares share: per-service limits, the shed answer, metric labels, access logs."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from common import jsonio
from common.context import RequestContext
from common.deadline import Deadline
from common.errors import ApiError
from common.metrics import METRICS_PATH, observe_request
from common.routes import HEALTHCHECK_PATH, READINESS_PATH
from common.tracing import Trace

log = logging.getLogger("service.access")

# Probes and scrapes are neither limited nor measured: they must answer even when the worker is full.
UNMETERED_PATHS = frozenset({HEALTHCHECK_PATH, READINESS_PATH, METRICS_PATH})


@dataclass(frozen=True)
class ServicePolicy:
    """How a service's middleware treats requests."""

    name: str
    max_in_flight: int
    deadline_s: float = math.inf
    access_log: bool = False
    known_paths: frozenset[str] = frozenset()

    def context(self, request_id: str | None, traceparent: str | None) -> RequestContext:
        """A new request's context: its ids (continued or fresh), its deadline and its stage timer."""
        return RequestContext(trace=Trace.from_headers(request_id, traceparent), deadline=Deadline(self.deadline_s))

    def path_label(self, path: str) -> str:
        """The metric label of a path: known routes by name, anything else as ``other`` (bounded cardinality)."""
        return path if path in self.known_paths else "other"

    def finish(self, ctx: RequestContext, path: str, method: str, status: int) -> None:
        """Record metrics and, for server errors or when enabled, a JSON access log line."""
        durations = ctx.stages.durations()
        label = self.path_label(path)
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


def overloaded(limit: int) -> ApiError:
    """A 503 for a request refused because the worker already serves ``limit`` requests."""
    return ApiError(503, "overloaded", f"server is at its limit of {limit} requests in flight per worker; retry later")


SHED_HEADERS = {"Retry-After": "1", "Content-Type": jsonio.JSON_MEDIA_TYPE}
