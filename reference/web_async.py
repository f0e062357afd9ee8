"""What every FastAPI service here shares: the service middleware, the one error shape, and the probes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ClassVar

import uvicorn_worker
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import ProxyTracerProvider, get_tracer_provider
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference.api import HEALTH_PATH, METRICS_PATH, READY_PATH, ErrorBody, request_error
from reference.core import ApiError, body_too_large, http_error
from reference.service import RequestContext, Service, error_headers, exposition
from reference.service import readiness as readiness_answer
from reference.settings import ServiceSettings

log = logging.getLogger(__name__)
PROBES = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})
Readiness = Callable[[Request], Awaitable[dict[str, str]]]


def service_app(service: Service, title: str, version: str, max_body_bytes: int, lifespan: Any = None,
                readiness: Readiness | None = None, telemetry: TelemetryConfig | None = None) -> FastAPI:  # fmt: skip
    """A FastAPI app with this project's middleware, error shape, probes and metrics; the caller adds its routes
    (``telemetry``: FastAPI's own OpenTelemetry configuration, by default ``native_telemetry()``)."""
    app = FastAPI(title=title, version=version, lifespan=lifespan,
                  telemetry=native_telemetry() if telemetry is None else telemetry)  # fmt: skip
    app.add_middleware(ServiceMiddleware, service=service)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, framework_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.state.readiness, app.state.max_body_bytes = readiness, max_body_bytes
    app.include_router(probes)
    return app


def native_telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry hook: its server spans in a worker that traces, off in one that does not."""
    # It would ask the global providers on every request (doc/tracing.md: what that costs). A worker that traces has
    # set its tracer provider up before it builds its app (reference/tracing.py).
    if isinstance(get_tracer_provider(), ProxyTracerProvider):
        return {"tracing": False, "metrics": False, "logs": False}
    # The spans of what a request calls (Redis, the models) are children of its server span, with none per
    # dependency or serialisation between; metrics stay Prometheus'; probes that call nothing are not traced.
    return {"metrics": False, "logs": False, "operation_spans": False,
            "exclude": lambda scope: scope["path"] in (HEALTH_PATH, METRICS_PATH)}  # fmt: skip


class ServiceMiddleware:
    """Pure ASGI middleware: a request id, a deadline and admission for every request, its metrics at the end."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES or scope["path"] in self.service.probes:
            # Probes answer even when the worker is full.
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id, stamp = headers.get(b"x-request-id"), headers.get(b"x-request-start")
        length = headers.get(b"content-length")
        ctx, refused = self.service.begin(scope["path"], _text(request_id), _text(stamp), _text(length))
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", ctx.request_id.encode()),
                                      (b"server-timing", ctx.stages.header().encode())]  # fmt: skip
            await send(message)

        try:
            if refused is not None:
                await error_response(refused)(scope, receive, send_with_headers)
            else:
                scope.setdefault("state", {})["ctx"] = ctx
                await self.app(scope, self._limited(receive), send_with_headers)
        finally:
            route = scope.get("route")
            self.service.finish(ctx, scope["path"], getattr(route, "path", None), scope["method"], status,
                                admitted=refused is None)  # fmt: skip

    def _limited(self, receive: Receive) -> Receive:
        """``receive``, refusing (413) a body that grows past the limit without having declared its length."""
        size, limit = 0, self.service.max_body_bytes

        async def receive_limited() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                raise HTTPException(413)  # re-raised by FastAPI's body reading, answered by framework_error
            return message

        return receive_limited


def documented(errors: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, for its OpenAPI document."""
    return {status: {"model": ErrorBody, "description": text} for status, text in errors.items()}


async def get_context(request: Request) -> RequestContext:
    """The context the middleware made for this request (``async def``: FastAPI runs a plain ``def`` dependency
    on its thread pool, a thread hop per request for an attribute read)."""
    return request.state.ctx


Context = Annotated[RequestContext, Depends(get_context)]


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error in the one shape."""
    return JSONResponse(error.body(), status_code=error.status, headers=error_headers(error) | (headers or {}))


async def api_error(request: Request, exc: Exception) -> Response:
    """The project's own errors."""
    return error_response(exc)  # type: ignore[arg-type]


async def framework_error(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own (404 route, 405 method, 413 body), in the same shape as on the sync stack."""
    status = exc.status_code  # type: ignore[attr-defined]
    if status == 400:  # FastAPI's answer to a body json.loads refused (too deep, a huge integer, bad UTF-8)
        error = ApiError(400, "invalid_json", "the body is not valid JSON")
    else:
        error = body_too_large(request.app.state.max_body_bytes) if status == 413 else http_error(status)
    return error_response(error, dict(exc.headers or {}))  # type: ignore[attr-defined]


async def validation_error(request: Request, exc: Exception) -> Response:
    """A body that is not JSON (400), not ``application/json`` (415), or not a valid request (422)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower().endswith("json"):
        return error_response(ApiError(415, "unsupported_media_type", "send the body as application/json"))
    return error_response(request_error(exc.errors()))  # type: ignore[attr-defined]


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Anything else: a 500 in the same shape, the details in the log only."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(ApiError(500, "internal_error", "unexpected server error"))


probes = APIRouter(tags=["probes"])


@probes.get(HEALTH_PATH, summary="Liveness: the process answers")
async def healthcheck() -> dict[str, str]:
    return {"status": "OK"}


@probes.get(READY_PATH, summary="Readiness: every dependency answers", responses={503: {"description": "Not ready"}})
async def ready(request: Request) -> Response:
    readiness = request.app.state.readiness
    status, body = readiness_answer(await readiness(request) if readiness else {})
    return JSONResponse(body, status_code=status)


@probes.get(METRICS_PATH, summary="Prometheus metrics of every worker", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, media_type=content_type)


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None


class UvicornWorker(uvicorn_worker.UvicornWorker):
    """The gunicorn worker of these apps (``-k reference.web_async.UvicornWorker``): uvloop and httptools, no access
    log (the middleware logs), and a shutdown that ends before gunicorn's graceful timeout would kill it."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "timeout_graceful_shutdown": ServiceSettings().graceful_timeout_s - 1,
    }
