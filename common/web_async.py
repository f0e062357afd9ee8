"""The async stack's thin web layer (FastAPI/Starlette): middleware, JSON answers, body limit, error handlers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common import jsonio
from common.context import RequestContext
from common.errors import ApiError, body_too_large, error_body, http_error, invalid_input
from common.lifecycle import is_draining
from common.metrics import IN_FLIGHT, METRICS_PATH, SHED, exposition
from common.routes import HEALTHCHECK_PATH, HEALTHY, READINESS_PATH
from common.service import SHED_HEADERS, UNMETERED_PATHS, ServicePolicy, overloaded
from common.timing import SERVER_TIMING, Stages
from common.tracing import REQUEST_ID_HEADER

log = logging.getLogger(__name__)
# FastAPI's native OpenTelemetry hook asks the global providers on every request whether it is
# enabled; these services trace and measure themselves (common.tracing, common.metrics).
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class ServiceMiddleware:
    """Pure ASGI middleware: request ids, the in-flight limit (fast 503), metrics and access logs."""

    def __init__(self, app: ASGIApp, policy: ServicePolicy) -> None:
        self.app = app
        self.policy = policy
        self.in_flight = 0  # one event loop per worker: no lock needed
        self._gauge = IN_FLIGHT.labels(policy.name)
        self._shed = SHED.labels(policy.name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNMETERED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctx = self.policy.context(_text(headers.get(_REQUEST_ID)), _text(headers.get(b"traceparent")))
        request_id = ctx.trace.request_id.encode()
        if self.in_flight >= self.policy.max_in_flight:
            self._shed.inc()
            await _send_error(send, overloaded(self.policy.max_in_flight), request_id)
            self.policy.finish(ctx, scope["path"], scope["method"], 503)
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
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight -= 1
            self._gauge.dec()
            self.policy.finish(ctx, scope["path"], scope["method"], status)


def request_context(request: Request) -> RequestContext:
    """The context the middleware built for this request."""
    return request.state.ctx


def json_response(body: object, status: int = 200, stages: Stages | None = None) -> Response:
    """A JSON answer encoded by the shared codec, with a ``Server-Timing`` header when ``stages`` are given."""
    headers = {SERVER_TIMING: stages.header()} if stages is not None else None
    return Response(jsonio.dumps(body), status_code=status, media_type=jsonio.JSON_MEDIA_TYPE, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    # Stream rather than request.body(): a chunked body without Content-Length is cut off at the limit.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status)

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
        return json_response(error_body(500, "internal_error", "unexpected server error"), 500)


def add_probes(app: FastAPI, readiness: Callable[[Request], Awaitable[dict[str, str]]] | None = None) -> None:
    """Liveness (touches nothing), readiness (503 while draining or when a dependency is down) and ``/metrics``."""

    @app.get(HEALTHCHECK_PATH, summary="Liveness check", tags=["probes"])
    async def healthcheck() -> Response:
        return json_response(HEALTHY)

    @app.get(READINESS_PATH, summary="Readiness check", tags=["probes"])
    async def ready(request: Request) -> Response:
        if is_draining():
            return json_response(error_body(503, "draining", "shutting down; send no new requests"), 503)
        checks = await readiness(request) if readiness else {}
        failed = sorted(name for name, state in checks.items() if state != "ok")
        if failed:
            body = error_body(503, "not_ready", f"unavailable: {', '.join(failed)}", checks=checks)
            return json_response(body, 503)
        return json_response({"status": "ready", "checks": checks})

    @app.get(METRICS_PATH, include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None


async def _send_error(send: Send, err: ApiError, request_id: bytes) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in SHED_HEADERS.items()] + [(_REQUEST_ID, request_id)]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": jsonio.dumps(err.body())})
