"""What every Flask service here shares: the service hooks, the one error shape, and the probes."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, HTTPException

from reference.api import HEALTH_PATH, METRICS_PATH, READY_PATH, ErrorBody, request_error
from reference.core import ApiError, body_too_large, http_error
from reference.service import RequestContext, Service, error_headers, exposition
from reference.service import readiness as readiness_answer

log = logging.getLogger(__name__)
JSON = "application/json"
PROBES = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH})
Readiness = Callable[[], dict[str, str]]
# gunicorn drains at most 64 KiB of a body the app left unread; past that it closes the connection and waits up to
# 2 s for the client to close too, on the worker's event loop, which meanwhile accepts nothing. A refused body up to
# this size is read here instead, on the request's own thread, so that the connection stays open and the loop free.
DRAINED_BYTES = 1 << 20


def service_app(service: Service, title: str, version: str, max_body_bytes: int,
                readiness: Readiness | None = None) -> OpenAPI:  # fmt: skip
    """A Flask app with this project's hooks, error shape, probes and metrics; the caller registers its routes."""
    app = ServiceOpenAPI(__name__, info=Info(title=title, version=version), doc_prefix="/docs",
                         validation_error_model=ErrorBody, validation_error_callback=validation_error)  # fmt: skip
    app.json = JSONProvider(app)
    app.config.update(MAX_CONTENT_LENGTH=max_body_bytes + 1, PROVIDE_AUTOMATIC_OPTIONS=False)  # (begin: + 1)
    app.extensions["service"] = service
    app.extensions["readiness"] = readiness
    app.before_request(begin)
    app.after_request(add_headers)
    app.teardown_request(finish)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, framework_error)
    app.register_error_handler(Exception, unexpected_error)
    app.register_api(probes)
    app.add_url_rule("/openapi.json", "openapi", lambda: Response(app.json.dumps(app.api_doc), mimetype=JSON))
    return app


class ServiceOpenAPI(OpenAPI):
    """flask-openapi3's app, its OpenAPI document without what flask-openapi3 adds that is not so: a null for the
    security schemes it was not given, and 422 answers no route gives."""

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        # flask-openapi3 (4.3) assigns ``components.securitySchemes`` whether or not it has any, so the document says
        # ``"securitySchemes": null``, which OpenAPI does not allow (a map when present): schemathesis refuses every
        # operation of such a document. FastAPI leaves the key out; so does this one.
        components = self.spec_json.get("components", {})
        if components.get("securitySchemes", {}) is None:
            del components["securitySchemes"]
        # It also gives every operation that documents no 422 of its own a 422 of an *array* of the validation error
        # model. This service's validation errors are one ErrorBody (``validation_error``), and every route that
        # validates a request documents its 422 (``documented``): the others never answer one.
        for path_item in self.spec_json["paths"].values():
            for operation in path_item.values():
                answer = operation.get("responses", {}).get("422", {})
                if answer.get("content", {}).get(JSON, {}).get("schema", {}).get("type") == "array":
                    del operation["responses"]["422"]


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON written as FastAPI writes it (keys in order, compact); a body nested too deep is invalid JSON
    (400) rather than a failure (500)."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("separators", (",", ":"))
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("the body is nested too deep") from exc


def begin() -> Response | None:
    """A request id, a deadline and admission for every request (probes excepted: they answer when full)."""
    service: Service = current_app.extensions["service"]
    if request.path in PROBES or request.path in service.probes:
        return None
    headers = request.headers
    g.ctx, refused = service.begin(request.path, headers.get("X-Request-ID"), headers.get("x-request-start"),
                                   headers.get("Content-Length"))  # fmt: skip
    g.admitted = refused is None
    if refused is not None and refused.status == 413:
        drain(headers.get("Content-Length"))
    if refused is None and headers.get("Transfer-Encoding", "").lower() == "chunked":
        # A body without a declared length is read here, bounded by MAX_CONTENT_LENGTH (the limit plus one byte):
        # werkzeug would cut it at the limit silently, and the cut body fail as invalid JSON rather than a 413.
        request.get_data(cache=True)
        if request.stream.is_exhausted:
            raise body_too_large(service.max_body_bytes)
    return None if refused is None else error_response(refused)


def drain(length: str | None) -> None:
    """Read and drop a refused body of a declared length up to ``DRAINED_BYTES``."""
    if length and length.isdigit() and int(length) <= DRAINED_BYTES:
        stream = request.environ["wsgi.input"]
        while stream.read(65_536):
            pass


def add_headers(response: Response) -> Response:
    """The request's id and its stage timings on the answer."""
    if (ctx := g.get("ctx")) is not None:
        response.headers["X-Request-ID"] = ctx.request_id
        response.headers["Server-Timing"] = ctx.stages.header()
    g.status = response.status_code
    return response


def finish(exc: BaseException | None) -> None:
    """Its metrics, by route template, once the answer is made."""
    if (ctx := g.get("ctx")) is not None:
        # Labelled by its template as FastAPI names it (``/jobs/{job_id}``), the same on both stacks.
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", request.url_rule.rule) if request.url_rule is not None else None
        current_app.extensions["service"].finish(ctx, request.path, route, request.method, g.get("status", 500),
                                                 admitted=g.admitted)  # fmt: skip


def documented(errors: dict[int, str]) -> dict[int, dict[str, Any]]:
    """The error answers of a route, for its OpenAPI document."""
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {status: {"description": text, "content": content} for status, text in errors.items()}


def get_context() -> RequestContext:
    """The context ``begin`` made for this request."""
    return g.ctx


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    """An error in the one shape."""
    headers = error_headers(error) | (headers or {})
    return Response(current_app.json.dumps(error.body()), error.status, headers, mimetype=JSON)


def api_error(exc: ApiError) -> Response:
    """The project's own errors."""
    return error_response(exc)


def framework_error(exc: HTTPException) -> Response:
    """Flask's and werkzeug's own (404 route, 405 method, 413 body), in the same shape as on the async stack."""
    status = exc.code or 500
    error = body_too_large(current_app.extensions["service"].max_body_bytes) if status == 413 else http_error(status)
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}  # e.g. Allow on a 405
    return error_response(error, headers)


def validation_error(exc: ValidationError) -> Response:
    """A body that is not ``application/json`` (415), not JSON (400), or not a valid request (422)."""
    if not request.is_json:
        return error_response(ApiError(415, "unsupported_media_type", "send the body as application/json"))
    try:
        request.get_json()  # the validator parsed it silently: parse again to tell "not JSON" from "null"
    except BadRequest:
        return error_response(ApiError(400, "invalid_json", "the body is not valid JSON"))
    return error_response(request_error(exc.errors()))


def unexpected_error(exc: Exception) -> Response:
    """Anything else: a 500 in the same shape, the details in the log only."""
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(ApiError(500, "internal_error", "unexpected server error"))


probes = APIBlueprint("probes", __name__, abp_tags=[Tag(name="probes")])


# The probes' answers as FastAPI documents them (web_async): flask-openapi3 documents none for a route without a
# response model, and schemathesis then finds their 200 undocumented.
HEALTH_ANSWERS = {200: {"content": {JSON: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}}}}
READY_ANSWERS = {200: {"content": {JSON: {"schema": {}}}}, 503: {"description": "Not ready"}}


@probes.get(HEALTH_PATH, summary="Liveness: the process answers", responses=HEALTH_ANSWERS)
def healthcheck() -> Response:
    return Response(current_app.json.dumps({"status": "OK"}), mimetype=JSON)


@probes.get(READY_PATH, summary="Readiness: every dependency answers", responses=READY_ANSWERS)
def ready() -> Response:
    readiness = current_app.extensions["readiness"]
    status, body = readiness_answer(readiness() if readiness else {})
    return Response(current_app.json.dumps(body), status, mimetype=JSON)


@probes.get(METRICS_PATH, doc_ui=False)
def metrics() -> Response:
    body, content_type = exposition()
    return Response(body, content_type=content_type)
