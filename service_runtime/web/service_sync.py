"""The sync stack's service wiring (Flask): ``service_app`` and what handlers use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.errors import ApiError, body_too_large, http_error
from service_runtime.core.openapi import swagger_page
from service_runtime.core.timing import SERVER_TIMING, Stages
from service_runtime.core.topology import (
    DOCS_PATH,
    HEALTHCHECK_PATH,
    HEALTHY,
    METRICS_PATH,
    OPENAPI_PATH,
    READINESS_PATH,
)
from service_runtime.core.tracing import REQUEST_ID_HEADER
from service_runtime.web.metrics import IN_FLIGHT, SHED, exposition
from service_runtime.web.profiling_sync import add_profiling
from service_runtime.web.service import (
    SHED_HEADERS,
    UNMETERED_PATHS,
    Service,
    ServicePolicy,
    internal_error,
    overloaded,
    readiness_answer,
)

log = logging.getLogger(__name__)
_CTX_KEY = "service.ctx"

# How much of an oversized body is read and thrown away so that the keep-alive connection
# stays usable: the next request on it must not start in the middle of this body.
DRAIN_BYTES = 1 << 20
_CHUNK = 64 * 1024

Readiness = Callable[[], dict[str, str]]


def service_app(service: Service, readiness: Readiness | None = None) -> Flask:
    """A Flask app that is a service of this project: limits, ids, metrics, error shape, probes, docs, profiling.

    The caller adds its routes; gunicorn calls the app factory in each worker after fork, so the
    caller opens its clients there, and ``readiness`` checks them.
    """
    app = Flask(__name__)
    app.wsgi_app = ServiceMiddleware(app.wsgi_app, service.policy)
    _install_error_handlers(app)
    _add_probes(app, readiness)
    _add_docs(app, service)
    add_profiling(app, service=service.name)
    return app


class ServiceMiddleware:
    """WSGI middleware: request ids, the in-flight limit (fast 503), metrics and access logs."""

    def __init__(self, app: Callable, policy: ServicePolicy) -> None:
        self.app = app
        self.policy = policy
        self.in_flight = 0
        self._lock = threading.Lock()  # gthread: many threads per worker
        self._gauge = IN_FLIGHT.labels(policy.name)
        self._shed = SHED.labels(policy.name)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in UNMETERED_PATHS:
            return self.app(environ, start_response)
        ctx = self.policy.context(environ.get("HTTP_X_REQUEST_ID"), environ.get("HTTP_TRACEPARENT"))
        method = environ.get("REQUEST_METHOD", "")
        with self._lock:
            admitted = self.in_flight < self.policy.max_in_flight
            if admitted:
                self.in_flight += 1
        if not admitted:
            self._shed.inc()
            err = overloaded(self.policy.max_in_flight)
            headers = [*SHED_HEADERS.items(), (REQUEST_ID_HEADER, ctx.trace.request_id)]
            start_response("503 Service Unavailable", headers)
            self.policy.finish(ctx, path, method, 503)
            return [jsonio.dumps(err.body())]
        environ[_CTX_KEY] = ctx
        status = 500

        def start_with_id(status_line: str, headers: list, exc_info=None):
            nonlocal status
            status = int(status_line[:3])
            return start_response(status_line, [*headers, (REQUEST_ID_HEADER, ctx.trace.request_id)], exc_info)

        self._gauge.inc()
        try:
            # Flask returns a fully built response: the work is done when this call returns.
            return self.app(environ, start_with_id)
        finally:
            with self._lock:
                self.in_flight -= 1
            self._gauge.dec()
            self.policy.finish(ctx, path, method, status)


def request_context() -> RequestContext:
    """The context the middleware built for the current request."""
    return request.environ[_CTX_KEY]


def json_response(body: object, status: int = 200, stages: Stages | None = None) -> Response:
    """A JSON answer encoded by the shared codec, with a ``Server-Timing`` header when ``stages`` are given."""
    headers = {SERVER_TIMING: stages.header()} if stages is not None else None
    return Response(jsonio.dumps(body), status=status, mimetype=jsonio.JSON_MEDIA_TYPE, headers=headers)


def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 once it is known to exceed ``limit`` bytes (Flask has no limit by default)."""
    stream = request.stream  # bounded by Content-Length, or by the end of a chunked body
    declared = request.content_length
    if declared is not None and declared > limit:
        _discard(stream)
        raise body_too_large(limit)
    body = stream.read(limit + 1)
    if len(body) > limit:
        _discard(stream)
        raise body_too_large(limit)
    return body


def _discard(stream) -> None:
    left = DRAIN_BYTES
    while left > 0 and (chunk := stream.read(min(_CHUNK, left))):
        left -= len(chunk)


def _install_error_handlers(app: Flask) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        err = http_error(exc.code or 500)
        response = json_response(err.body(), err.status)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # e.g. Allow on a 405
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return json_response(internal_error(), 500)


def _add_probes(app: Flask, readiness: Readiness | None) -> None:
    """Liveness (touches nothing), readiness (503 while draining or when a dependency is down) and ``/metrics``."""

    @app.get(HEALTHCHECK_PATH)
    def healthcheck() -> Response:
        return json_response(HEALTHY)

    @app.get(READINESS_PATH)
    def ready() -> Response:
        status, body = readiness_answer(readiness() if readiness else {})
        return json_response(body, status)

    @app.get(METRICS_PATH)
    def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, content_type=content_type)


def _add_docs(app: Flask, service: Service) -> None:
    """``/openapi.json`` (the framework-free document) and a Swagger UI page at ``/docs``."""
    document = jsonio.dumps(service.openapi)
    page = swagger_page(service.title, OPENAPI_PATH)

    @app.get(OPENAPI_PATH)
    def openapi() -> Response:
        return Response(document, mimetype=jsonio.JSON_MEDIA_TYPE)

    @app.get(DOCS_PATH)
    def docs() -> Response:
        return Response(page, mimetype="text/html")
