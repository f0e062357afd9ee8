"""The HTTP side every minimal app shares: its two routes, the checks of a request's body, and the answers, as the
reference gives them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reference.api import HEALTH_PATH, request_error
from reference.core import ApiError, body_too_large, http_error

PREDICT, HEALTH = "predict", "health"
JSON_TYPE = "application/json"
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON answer: its status, encoded body and any extra headers (``Allow``, ``Connection: close``)."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def dumps(body: Any) -> bytes:
    """JSON as both frameworks of the reference write it: keys in order, compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def error_answer(error: ApiError, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """An error in the one shape."""
    return Answer(error.status, dumps(error.body()), headers)


HEALTH_ANSWER = Answer(200, dumps({"status": "OK"}))
INTERNAL_ANSWER = error_answer(ApiError(500, "internal_error", "unexpected server error"))
NOT_FOUND_ANSWER = error_answer(http_error(404))
UNSUPPORTED = ApiError(415, "unsupported_media_type", "send the body as application/json")
INVALID_JSON = ApiError(400, "invalid_json", "the body is not valid JSON")


def route(method: str, path: str, predict_path: str) -> str | Answer:
    """``PREDICT`` or ``HEALTH``; anything else is the 404 or 405 the reference answers."""
    if path == predict_path:
        return PREDICT if method == "POST" else error_answer(http_error(405), (("Allow", "POST"),))
    if path == HEALTH_PATH:
        return HEALTH if method == "GET" else error_answer(http_error(405), (("Allow", "GET"),))
    return NOT_FOUND_ANSWER


def too_large(size: int | str | None, limit: int) -> Answer | None:
    """The 413 (the connection closed after it) of a body known to exceed ``limit`` bytes, else None."""
    if size is not None and (isinstance(size, int) or size.isdigit()) and int(size) > limit:
        return error_answer(body_too_large(limit), (("Connection", "close"),))
    return None


def is_json(content_type: str | None) -> bool:
    """Whether a body declared as ``content_type`` is JSON: ``application/json`` or ``application/*+json``."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == JSON_TYPE or (mime.startswith("application/") and mime.endswith("+json"))


def parse(content_type: str | None, raw: bytes, model: type[ModelT]) -> ModelT:
    """The request ``raw`` holds: 415 if it is not declared JSON, 400 if it is not JSON, 422 if it is not a valid
    ``model`` (the reference's statuses and messages)."""
    if not is_json(content_type):
        raise UNSUPPORTED
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad UTF-8, a huge integer or deep nesting included
        raise INVALID_JSON from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise request_error(exc.errors()) from exc


@cache
def status_line(status: int) -> str:
    """``200 OK``: the status as WSGI states it."""
    return f"{status} {HTTPStatus(status).phrase}"
