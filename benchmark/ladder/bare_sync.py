"""What the bare Flask apps share: the reference's JSON, error shape and probes, and a request context per request,
without the reference's service hooks (no request ids, Server-Timing, metrics, access log, admission or body limit,
and no ``/metrics``)."""

from __future__ import annotations

import time

from flask import g
from flask_openapi3 import Info, OpenAPI
from werkzeug.exceptions import HTTPException

from reference.api import HEALTH_PATH, READY_PATH, ErrorBody
from reference.core import ApiError
from reference.service import Deadline, RequestContext
from reference.web_sync import (
    JSONProvider,
    Readiness,
    api_error,
    framework_error,
    healthcheck,
    ready,
    unexpected_error,
    validation_error,
)

# No request ids in this build: every context carries this one, and the models are sent it.
NO_REQUEST_ID = "-"


def bare_app(title: str, version: str, deadline_s: float, readiness: Readiness | None = None) -> OpenAPI:
    """A Flask app configured as the reference's apps are, with its error handlers and probes, minus its service
    hooks; each request gets a new context (``deadline_s``); the caller registers its routes."""
    app = OpenAPI(__name__, info=Info(title=title, version=version), doc_prefix="/docs",
                  validation_error_model=ErrorBody, validation_error_callback=validation_error)  # fmt: skip
    app.json = JSONProvider(app)
    app.config.update(PROVIDE_AUTOMATIC_OPTIONS=False)
    app.extensions["readiness"] = readiness

    @app.before_request
    def new_context() -> None:
        g.ctx = RequestContext(NO_REQUEST_ID, Deadline(deadline_s, time.monotonic()))

    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, framework_error)
    app.register_error_handler(Exception, unexpected_error)
    app.add_url_rule(HEALTH_PATH, view_func=healthcheck)
    app.add_url_rule(READY_PATH, view_func=ready)
    return app
