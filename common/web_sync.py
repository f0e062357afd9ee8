"""The sync stack's thin web layer (Flask): JSON answers, body limit, error handlers."""

from __future__ import annotations

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from common import jsonio
from common.errors import ApiError, body_too_large, error_body, http_error
from common.routes import HEALTHCHECK_PATH, HEALTHY

log = logging.getLogger(__name__)


def json_response(body: object, status: int = 200) -> Response:
    """A JSON answer encoded by the shared codec."""
    return Response(jsonio.dumps(body), status=status, mimetype=jsonio.JSON_MEDIA_TYPE)


def limit_body(app: Flask, limit: int) -> None:
    """Refuse bodies over ``limit`` bytes with a 413 (Flask's default is no limit at all)."""
    app.config["MAX_CONTENT_LENGTH"] = limit


def install_error_handlers(app: Flask) -> None:
    """Answer every error (ours, routing, unexpected) with the shared JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        err = body_too_large(app.config["MAX_CONTENT_LENGTH"])
        return json_response(err.body(), err.status)

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
