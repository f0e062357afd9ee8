"""What the bare FastAPI apps share: the reference's error shape and probes, and a request context per request,
without the reference's service middleware (no request ids, Server-Timing, metrics, access log, admission or body
limit, and no ``/metrics``)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from reference.api import HEALTH_PATH, READY_PATH
from reference.core import ApiError
from reference.service import Deadline, RequestContext
from reference.web_async import (
    Readiness,
    api_error,
    framework_error,
    healthcheck,
    native_telemetry,
    ready,
    unexpected_error,
    validation_error,
)

# No request ids in this build: every context carries this one, and the models are sent it.
NO_REQUEST_ID = "-"


def bare_app(router: APIRouter, title: str, version: str, deadline_s: float, lifespan: Any = None,
             readiness: Readiness | None = None) -> FastAPI:  # fmt: skip
    """A FastAPI app serving ``router`` as the reference's apps do, with the reference's telemetry setting, error
    handlers and probes, minus its middleware; each request of ``router`` gets a new context (``deadline_s``)."""

    # A dependency of the router's routes, solved before theirs: ``reference.web_async.Context`` reads what it
    # sets. (``app.dependency_overrides`` would do it too, but FastAPI then rebuilds every dependency of every
    # request: about 70 µs of CPU more per model request, measured in-process.)
    async def new_context(request: Request) -> None:
        request.state.ctx = RequestContext(NO_REQUEST_ID, Deadline(deadline_s, time.monotonic()))

    app = FastAPI(title=title, version=version, lifespan=lifespan, telemetry=native_telemetry())
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, framework_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
    app.state.readiness = readiness
    app.add_api_route(HEALTH_PATH, healthcheck, methods=["GET"])
    app.add_api_route(READY_PATH, ready, methods=["GET"])
    app.include_router(router, dependencies=[Depends(new_context)])
    return app
