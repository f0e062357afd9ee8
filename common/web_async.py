"""The async stack's thin web layer (FastAPI/Starlette): JSON answers, body limit, error handlers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from common import jsonio
from common.errors import ApiError, body_too_large, error_body, http_error, invalid_input
from common.routes import HEALTHCHECK_PATH, HEALTHY
from common.timing import SERVER_TIMING, Stages

log = logging.getLogger(__name__)


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
        return json_response(err.body(), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        err = invalid_input("request does not match the API")
        return json_response(err.body(), err.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return json_response(error_body(500, "internal_error", "unexpected server error"), 500)


def add_healthcheck(app: FastAPI) -> None:
    """``GET /api/v1/healthcheck``: a liveness check that touches no dependency."""

    @app.get(HEALTHCHECK_PATH, summary="Liveness check", tags=["health"])
    async def healthcheck() -> Response:
        return json_response(HEALTHY)
