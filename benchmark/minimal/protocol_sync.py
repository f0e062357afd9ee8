"""The WSGI side of the minimal sync apps: reading a bounded body, giving an answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from benchmark.minimal.protocol import (
    HEALTH,
    HEALTH_ANSWER,
    INTERNAL_ANSWER,
    Answer,
    check_body_size,
    error_answer,
    route,
    status_line,
)
from service_runtime.core.errors import ApiError
from service_runtime.core.jsonio import JSON_MEDIA_TYPE

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


def serve(environ: dict[str, Any], start_response: StartResponse, predict_path: str, limit: int,
          predict: Callable[[bytes], bytes]) -> list[bytes]:  # fmt: skip
    """One HTTP request: the liveness route, or ``predict`` on the bounded body; errors in the project's shape."""
    try:
        if route(environ["REQUEST_METHOD"], environ["PATH_INFO"], predict_path) == HEALTH:
            answer = HEALTH_ANSWER
        else:
            answer = Answer(200, predict(read_body(environ, limit)))
    except ApiError as err:
        answer = error_answer(err)
    except Exception:
        log.exception("unexpected error on %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        answer = INTERNAL_ANSWER
    return respond(start_response, answer)


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body; a 413 when its declared or actual size exceeds ``limit`` bytes (at most one more is read)."""
    check_body_size(environ.get("CONTENT_LENGTH"), limit)
    body = environ["wsgi.input"].read(limit + 1)
    check_body_size(len(body), limit)
    return body


def respond(start_response: StartResponse, answer: Answer) -> list[bytes]:
    """Start the answer as JSON, with its length and extra headers, and return its body."""
    headers = [("Content-Type", JSON_MEDIA_TYPE), ("Content-Length", str(len(answer.body))), *answer.headers]
    start_response(status_line(answer.status), headers)
    return [answer.body]
