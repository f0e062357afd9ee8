"""What the two stacks' service wirings share: the description of a service, its limits, and its answers.

``service_async.service_app`` (FastAPI) and ``service_sync.service_app`` (Flask) turn a ``Service``
into an app; everything here is plain Python so that both behave the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError, error_body
from service_runtime.core.lifecycle import is_draining
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import HEALTHCHECK_PATH, METRICS_PATH, READINESS_PATH, Stack, predict_path
from service_runtime.core.tracing import Trace
from service_runtime.web.metrics import observe_request

log = logging.getLogger("service.access")

# Probes and scrapes are neither limited nor measured: they must answer even when the worker is full.
UNMETERED_PATHS = frozenset({HEALTHCHECK_PATH, READINESS_PATH, METRICS_PATH})
SHED_HEADERS = {"Retry-After": "1", "Content-Type": jsonio.JSON_MEDIA_TYPE}


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


def service_policy(server: ServerSettings, stack: Stack, deadline_s: float = math.inf) -> ServicePolicy:
    """The limits, deadline and metric labels of a service of ``stack`` served as ``server`` describes."""
    return ServicePolicy(
        name=server.name,
        max_in_flight=server.in_flight_limit(),
        deadline_s=deadline_s,
        access_log=server.access_log,
        known_paths=frozenset({predict_path(stack)}),
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


def readiness_answer(checks: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    """The readiness status and body: 503 while draining or when a dependency is not ``ok``, else 200."""
    if is_draining():
        return 503, error_body(503, "draining", "shutting down; send no new requests")
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return 503, error_body(503, "not_ready", f"unavailable: {', '.join(failed)}", checks=dict(checks))
    return 200, {"status": "ready", "checks": dict(checks)}


def internal_error() -> dict[str, Any]:
    """The body of an unexpected server error (the details go to the log, not to the client)."""
    return error_body(500, "internal_error", "unexpected server error")
