"""The async stack's service wiring (FastAPI/Starlette): ``service_app`` and what handlers use."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_runtime.core import jsonio
from service_runtime.core.arrival import REQUEST_START_HEADER
from service_runtime.core.context import RequestContext
from service_runtime.core.errors import (
    ApiError,
    body_too_large,
    http_error,
    internal_error,
    invalid_input,
    request_timeout,
)
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
from service_runtime.web.profiling_async import add_profiling
from service_runtime.web.service import (
    SHED_HEADERS,
    UNMETERED_PATHS,
    Service,
    ServicePolicy,
    ServiceTime,
    readiness_answer,
)

log = logging.getLogger(__name__)
# FastAPI's native OpenTelemetry hook asks the global providers on every request whether it is
# enabled; these services trace and measure themselves (core.tracing, web.metrics).
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
_REQUEST_START = REQUEST_START_HEADER.encode()

Readiness = Callable[[Request], Awaitable[dict[str, str]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def service_app(service: Service, lifespan: Lifespan | None = None, readiness: Readiness | None = None) -> FastAPI:
    """A FastAPI app that is a service of this project: limits, ids, metrics, error shape, probes, docs, profiling.

    The caller adds its routes; ``lifespan`` opens and closes the worker's clients, ``readiness`` checks them.
    """
    # FastAPI's own document and pages are off: the service serves the framework-free one, as the sync stack does.
    app = FastAPI(title=service.title, lifespan=lifespan, telemetry=NO_TELEMETRY, openapi_url=None, docs_url=None,
                  redoc_url=None)  # fmt: skip
    app.add_middleware(AsyncServiceMiddleware, policy=service.policy)
    _install_error_handlers(app)
    _add_probes(app, readiness)
    _add_docs(app, service)
    add_profiling(app, service=service.name)
    return app


class AsyncServiceMiddleware:
    """Pure ASGI middleware: request ids, admission by deadline (fast 503), metrics and access logs."""

    def __init__(self, app: ASGIApp, policy: ServicePolicy) -> None:
        self.app = app
        self.policy = policy
        self.in_flight = 0  # one event loop per worker: no lock needed
        self.service_time = ServiceTime()
        self._gauge, self._shed = service_children(policy.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNMETERED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # An event loop reads a request as it arrives: without a trusted edge stamp, arrival is now.
        arrived = self.policy.arrival(_text(headers.get(_REQUEST_START)), None)
        ctx = self.policy.context(_text(headers.get(_REQUEST_ID)), _text(headers.get(b"traceparent")), arrived)
        request_id = ctx.trace.request_id.encode()
        if (refused := self.policy.refusal(ctx, scope["path"], self.in_flight, self.service_time)) is not None:
            self._shed.inc()
            await _send_error(send, refused, request_id)
            self.policy.finish(ctx, scope["path"], scope["method"], refused.status)
            return
        scope.setdefault("state", {})["ctx"] = ctx
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (_REQUEST_ID, request_id)]
            await send(message)

        self.in_flight += 1
        self._gauge.inc()
        admitted = time.monotonic()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight -= 1
            self._gauge.dec()
            self.policy.finish(ctx, scope["path"], scope["method"], status)
            if scope["path"] in self.policy.timed_paths:
                # Serving time from admission: time queued before it (at the edge, in the listen queue) is what
                # the deadline check subtracts, so counting it here too would refuse a burst twice over.
                self.service_time.observe(status, time.monotonic() - admitted)


def request_context(request: Request) -> RequestContext:
    """The context the middleware built for this request."""
    return request.state.ctx


def json_response(body: object, status: int = 200, stages: Stages | None = None) -> Response:
    """A JSON answer encoded by the shared codec, with a ``Server-Timing`` header when ``stages`` are given."""
    headers = {SERVER_TIMING: stages.header()} if stages is not None else None
    return Response(jsonio.dumps(body), status_code=status, media_type=jsonio.JSON_MEDIA_TYPE, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; a 413 as soon as it is known to exceed ``limit`` bytes, a 408 if it arrives too late.

    The body must arrive by the request timeout or the request's deadline (``RequestContext.read_by``), so a
    client sending it slowly holds a slot of this worker for no longer than that.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    left = request_context(request).read_by - time.monotonic()
    try:
        async with asyncio.timeout(left if math.isfinite(left) else None):
            # Stream rather than request.body(): a chunked body without Content-Length is cut off at the limit.
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise body_too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise request_timeout() from None
    return b"".join(chunks)


def _install_error_handlers(app: FastAPI) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        response = json_response(exc.body(), exc.status)
        response.headers.update(exc.headers)  # uvicorn closes the connection on Connection: close
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        err = http_error(exc.status_code)
        response = json_response(err.body(), exc.status_code)
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = invalid_input("request does not match the API")
        return json_response(err.body(), err.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return json_response(internal_error(), 500)


def _add_probes(app: FastAPI, readiness: Readiness | None) -> None:
    """Liveness (touches nothing), readiness (503 while draining or when a dependency is down) and ``/metrics``."""

    @app.get(HEALTHCHECK_PATH)
    async def healthcheck() -> Response:
        return json_response(HEALTHY)

    @app.get(READINESS_PATH)
    async def ready(request: Request) -> Response:
        status, body = readiness_answer(await readiness(request) if readiness else {})
        return json_response(body, status)

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)


def _add_docs(app: FastAPI, service: Service) -> None:
    """``/openapi.json`` (the framework-free document) and a Swagger UI page at ``/docs``."""
    document = jsonio.dumps(service.openapi)
    page = swagger_page(service.title, OPENAPI_PATH)

    @app.get(OPENAPI_PATH)
    async def openapi() -> Response:
        return Response(document, media_type=jsonio.JSON_MEDIA_TYPE)

    @app.get(DOCS_PATH)
    async def docs() -> Response:
        return HTMLResponse(page)


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None


async def _send_error(send: Send, err: ApiError, request_id: bytes) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in SHED_HEADERS.items()] + [(_REQUEST_ID, request_id)]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": jsonio.dumps(err.body())})
