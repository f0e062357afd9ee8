"""The sync stack's service wiring (Flask): ``service_app`` and what handlers use."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException

from service_runtime.core import jsonio
from service_runtime.core.arrival import ARRIVAL_ENVIRON_KEY, READ_BY_ENVIRON_KEY, REQUEST_START_HEADER
from service_runtime.core.context import RequestContext
from service_runtime.core.errors import ApiError, body_too_large, http_error, internal_error, request_timeout
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
from service_runtime.web.metrics import exposition, service_children
from service_runtime.web.profiling_sync import add_profiling
from service_runtime.web.service import (
    SHED_HEADERS,
    UNMETERED_PATHS,
    Service,
    ServicePolicy,
    ServiceTime,
    readiness_answer,
)

log = logging.getLogger(__name__)
_CTX_KEY = "service.ctx"
_REQUEST_START = "HTTP_" + REQUEST_START_HEADER.upper().replace("-", "_")

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
    """WSGI middleware: request ids, admission by deadline (fast 503), metrics and access logs."""

    def __init__(self, app: Callable, policy: ServicePolicy) -> None:
        self.app = app
        self.policy = policy
        self.in_flight = 0
        self.service_time = ServiceTime()
        self._lock = threading.Lock()  # gthread: many threads per worker
        self._gauge, self._shed = service_children(policy.name)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in UNMETERED_PATHS:
            return self.app(environ, start_response)
        # The worker records when the request became readable, before it waited for a free thread.
        arrived = self.policy.arrival(environ.get(_REQUEST_START), environ.get(ARRIVAL_ENVIRON_KEY))
        ctx = self.policy.context(environ.get("HTTP_X_REQUEST_ID"), environ.get("HTTP_TRACEPARENT"), arrived)
        method = environ.get("REQUEST_METHOD", "")
        with self._lock:
            refused = self.policy.refusal(ctx, path, self.in_flight, self.service_time)
            if refused is None:
                self.in_flight += 1
        if refused is not None:
            self._shed.inc()
            headers = [*SHED_HEADERS.items(), (REQUEST_ID_HEADER, ctx.trace.request_id)]
            start_response(f"{refused.status} Service Unavailable", headers)
            self.policy.finish(ctx, path, method, refused.status)
            return [jsonio.dumps(refused.body())]
        environ[_CTX_KEY] = ctx
        if (read_by := environ.get(READ_BY_ENVIRON_KEY)) is not None:
            read_by(ctx.read_by)  # the worker stops reading the body at the deadline too
        status = 500

        def start_with_id(status_line: str, headers: list, exc_info=None):
            nonlocal status
            status = int(status_line[:3])
            return start_response(status_line, [*headers, (REQUEST_ID_HEADER, ctx.trace.request_id)], exc_info)

        self._gauge.inc()
        admitted = time.monotonic()
        try:
            # Flask returns a fully built response: the work is done when this call returns.
            return self.app(environ, start_with_id)
        finally:
            with self._lock:
                self.in_flight -= 1
            self._gauge.dec()
            self.policy.finish(ctx, path, method, status)
            if path in self.policy.timed_paths:
                # Serving time from admission: time queued before it (at the edge, waiting for a thread) is what
                # the deadline check subtracts, so counting it here too would refuse a burst twice over.
                self.service_time.observe(status, time.monotonic() - admitted)


def request_context() -> RequestContext:
    """The context the middleware built for the current request."""
    return request.environ[_CTX_KEY]


def json_response(body: object, status: int = 200, stages: Stages | None = None) -> Response:
    """A JSON answer encoded by the shared codec, with a ``Server-Timing`` header when ``stages`` are given."""
    headers = {SERVER_TIMING: stages.header()} if stages is not None else None
    return Response(jsonio.dumps(body), status=status, mimetype=jsonio.JSON_MEDIA_TYPE, headers=headers)


def read_body(request: Request, limit: int) -> bytes:
    """The request body; a 413 once it is known to exceed ``limit`` bytes (Flask has no limit by default), a 408
    if it arrives too late (the worker bounds every read by ``RequestContext.read_by``).

    An oversized body is not drained: the worker closes a connection whose body is still arriving.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise body_too_large(limit)
    try:
        body = request.stream.read(limit + 1)  # bounded by Content-Length, or by the end of a chunked body
    except TimeoutError:
        raise request_timeout() from None
    if len(body) > limit:
        raise body_too_large(limit)
    return body


def _install_error_handlers(app: Flask) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = json_response(exc.body(), exc.status)
        response.headers.update(exc.headers)  # the worker closes the connection on Connection: close
        return response

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
