"""The WSGI side of the minimal sync apps: one request read within its body limit and answered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from benchmark.minimal.protocol import (
    HEALTH,
    HEALTH_ANSWER,
    INTERNAL_ANSWER,
    JSON_TYPE,
    Answer,
    error_answer,
    route,
    status_line,
    too_large,
)
from reference.core import ApiError

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
# What the predict route does with the request's content type and body: the answer's body.
Handler = Callable[[str | None, bytes], bytes]


def serve(environ: dict[str, Any], start_response: StartResponse, predict_path: str, limit: int,
          predict: Handler) -> list[bytes]:  # fmt: skip
    """One HTTP request: the liveness route, or ``predict`` on the bounded body; errors in the reference's shape."""
    try:
        answer = _answer(environ, predict_path, limit, predict)
    except ApiError as error:
        answer = error_answer(error)
    except Exception:
        log.exception("unexpected error on %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        answer = INTERNAL_ANSWER
    return respond(start_response, answer)


def _answer(environ: dict[str, Any], predict_path: str, limit: int, predict: Handler) -> Answer:
    found = route(environ["REQUEST_METHOD"], environ["PATH_INFO"], predict_path)
    if isinstance(found, Answer):
        return found
    if found == HEALTH:
        return HEALTH_ANSWER
    if (refused := too_large(environ.get("CONTENT_LENGTH"), limit)) is not None:
        return refused  # declared too large: refused before any of it is read
    body = environ["wsgi.input"].read(limit + 1)  # one byte more than allowed tells a body over the limit
    if (refused := too_large(len(body), limit)) is not None:
        return refused
    return Answer(200, predict(environ.get("CONTENT_TYPE"), body))


def respond(start_response: StartResponse, answer: Answer) -> list[bytes]:
    """Start the answer as JSON, with its length and extra headers, and return its body."""
    headers = [("Content-Type", JSON_TYPE), ("Content-Length", str(len(answer.body))), *answer.headers]
    start_response(status_line(answer.status), headers)
    return [answer.body]
