"""The WSGI side of the minimal sync apps: reading a bounded body, giving an answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmark.minimal.protocol import Answer, check_body_size, status_line
from service_runtime.core.jsonio import JSON_MEDIA_TYPE

StartResponse = Callable[..., Any]


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
