"""OpenTelemetry, opt-in: a worker traces only when ``OTEL_TRACES_EXPORTER`` asks it to (doc/tracing.md).

Off, nothing of OpenTelemetry's SDK or instrumentations is imported: every such import is inside the functions that
run only when tracing is on. On, each worker sets up its own tracer provider after the fork (``start``, from gunicorn's
``post_fork``: a batch span processor's thread and lock do not survive a fork), before it builds its app, and
instruments its app once built (``instrument``, from ``post_worker_init``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from reference.api import HEALTH_PATH, METRICS_PATH

EXPORTERS = ("console", "otlp")
# Probes polled every few seconds that call nothing: no trace of them.
UNTRACED_PATHS = (HEALTH_PATH, METRICS_PATH)


def exporters(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The span exporters ``OTEL_TRACES_EXPORTER`` names (``console``, ``otlp``, or both, comma-separated); none when
    it is unset, ``none``, or ``OTEL_SDK_DISABLED`` is true."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    chosen = [n for n in names if n and n != "none"]
    if unknown := sorted(set(chosen) - set(EXPORTERS)):
        raise ValueError(f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} unknown here; use {', '.join(EXPORTERS)}")
    return chosen


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the environment asks for tracing."""
    return bool(exporters(environ))


def otlp_endpoint(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where OTLP/HTTP sends spans, as the SDK reads it: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` whole, else
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``; None when neither is given."""
    if traces := environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip():
        return traces
    if base := environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return base.rstrip("/") + "/v1/traces"
    return None


def start(service: str) -> None:
    """This process's tracer provider, named ``service`` (unless ``OTEL_SERVICE_NAME`` names it), exporting in
    batches to each exporter asked for; Redis and threads instrumented."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    for name in exporters():
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    RedisInstrumentor().instrument()  # redis-py and redis.asyncio alike
    # The sync fan-out's pool thread runs its model call in the request's context, so its span joins the trace.
    ThreadingInstrumentor().instrument()


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # One span per line of JSON on stdout: the service's log, where tests and people read them.
        return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + os.linesep)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT itself


def instrument(app: Any) -> None:
    """Instrument what this worker's app calls through: for an ASGI app (FastAPI, which traces its own requests),
    aiohttp; for a WSGI one (Flask), the app object and urllib3."""
    if inspect.iscoroutinefunction(type(app).__call__):  # an ASGI app is a coroutine function
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        AioHttpClientInstrumentor().instrument()  # the sessions the lifespan opens next
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    FlaskInstrumentor.instrument_app(app, excluded_urls=",".join(UNTRACED_PATHS))
    # Its span starts first, so that a request the service refuses at once is traced too (as on the async stack).
    hooks = app.before_request_funcs[None]
    hooks.insert(0, hooks.pop())
    URLLib3Instrumentor().instrument()
