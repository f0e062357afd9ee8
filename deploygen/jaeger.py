"""The compose profile ``tracing``: Jaeger (all-in-one: its collector, storage in memory and UI in one container),
and the ``OTEL_*`` variables that point every service and edge at it.

Tracing stays opt-in under compose as natively (doc/tracing.md): the services and edges are given Jaeger's OTLP/HTTP
endpoint always, and trace only when ``OTEL_TRACES_EXPORTER`` names an exporter, from the environment of
``docker compose`` or ``.env`` (``OTEL_TRACES_EXPORTER=otlp docker compose --profile tracing up``). An endpoint alone
turns nothing on (``reference.tracing``), so without the profile nothing is sent anywhere.
"""

from __future__ import annotations

from typing import Any

from system_launcher.settings import StackSettings

PROFILE = "tracing"
NAME = "jaeger"
# Jaeger v1's all-in-one image: OTLP over HTTP (4318) and gRPC (4317), the UI on 16686, traces kept in memory
# (at most MEMORY_MAX_TRACES of them).
IMAGE = "jaegertracing/all-in-one:1.76.0"
UI_PORT = 16686
OTLP_HTTP_PORT = 4318
# Interpolated by compose from its environment or .env: off unless asked, Jaeger's endpoint unless another is given.
TRACING_ENV = {
    "OTEL_TRACES_EXPORTER": "${OTEL_TRACES_EXPORTER:-none}",
    "OTEL_EXPORTER_OTLP_ENDPOINT": f"${{OTEL_EXPORTER_OTLP_ENDPOINT:-http://{NAME}:{OTLP_HTTP_PORT}}}",
}


def compose_services(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Jaeger in the profile ``tracing``: its UI and its OTLP/HTTP receiver published on the host's loopback (so that
    ``make up``'s processes may export to it too)."""
    # No health check: nothing waits for it (an exporter that finds it down drops its batch and goes on), and which
    # probe the image can run is not known without pulling it.
    environment = {"COLLECTOR_OTLP_ENABLED": "true", "SPAN_STORAGE_TYPE": "memory", "MEMORY_MAX_TRACES": "50000"}
    ports = [f"{settings.host}:{port}:{port}" for port in (UI_PORT, OTLP_HTTP_PORT)]
    return {NAME: {"image": IMAGE, "profiles": [PROFILE], "environment": environment, "ports": ports}}
