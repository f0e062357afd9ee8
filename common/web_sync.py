"""The sync stack's thin web layer (Flask): JSON answers, body limit, error handlers."""

from __future__ import annotations

import logging

from flask import Flask, Request, Response
from werkzeug.exceptions import HTTPException

from common import jsonio
from common.errors import ApiError, body_too_large, error_body, http_error
from common.routes import HEALTHCHECK_PATH, HEALTHY
from common.timing import SERVER_TIMING, Stages

log = logging.getLogger(__name__)


def json_response(body: object, status: int = 200, stages: Stages | None = None) -> Response:
    """A JSON answer encoded by the shared codec, with a ``Server-Timing`` header when ``stages`` are given."""
    headers = {SERVER_TIMING: stages.header()} if stages is not None else None
    return Response(jsonio.dumps(body), status=status, mimetype=jsonio.JSON_MEDIA_TYPE, headers=headers)


# How much of an oversized body is read and thrown away so that the keep-alive connection
# stays usable: the next request on it must not start in the middle of this body.
DRAIN_BYTES = 1 << 20
_CHUNK = 64 * 1024


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


def install_error_handlers(app: Flask) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        err = http_error(exc.code or 500)
        return json_response(err.body(), err.status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return json_response(error_body(500, "internal_error", "unexpected server error"), 500)


def add_healthcheck(app: Flask) -> None:
    """``GET /api/v1/healthcheck``: a liveness check that touches no dependency."""

    @app.get(HEALTHCHECK_PATH)
    def healthcheck() -> Response:
        return json_response(HEALTHY)
