"""The HTTP side shared by the four minimal apps: their two routes, their answers and the body limit."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from http import HTTPStatus

from service_runtime.core import jsonio
from service_runtime.core.errors import ApiError, body_too_large, http_error, internal_error
from service_runtime.core.topology import HEALTHCHECK_PATH, HEALTHY

PREDICT, HEALTH = "predict", "health"


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON answer: status, encoded body and any extra headers (``Allow``, ``Connection: close``)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


HEALTH_ANSWER = Answer(200, jsonio.dumps(HEALTHY))
INTERNAL_ANSWER = Answer(500, jsonio.dumps(internal_error()))


def error_answer(err: ApiError) -> Answer:
    """The shared error shape, as the real stacks answer it."""
    return Answer(err.status, jsonio.dumps(err.body()), tuple(err.headers.items()))


def route(method: str, path: str, predict_path: str) -> str:
    """``PREDICT`` or ``HEALTH``; anything else is the 404 or 405 the real stacks answer."""
    if path == predict_path:
        if method == "POST":
            return PREDICT
        raise _method_not_allowed("POST")
    if path == HEALTHCHECK_PATH:
        if method == "GET":
            return HEALTH
        raise _method_not_allowed("GET")
    raise http_error(404)


def _method_not_allowed(allow: str) -> ApiError:
    err = http_error(405)
    err.headers = {"Allow": allow}
    return err


def check_body_size(size: int | str | None, limit: int) -> None:
    """A 413 (the connection closed after it) once a body is known to exceed ``limit`` bytes."""
    if size is not None and (isinstance(size, int) or size.isdigit()) and int(size) > limit:
        raise body_too_large(limit)


@cache
def status_line(status: int) -> str:
    """``200 OK``: the status as WSGI states it."""
    return f"{status} {HTTPStatus(status).phrase}"
