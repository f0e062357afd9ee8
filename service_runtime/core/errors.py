"""One error shape for every service of both stacks.

Every error answer is a JSON object ``{"status": 404, "error": "entity_not_found", "message": "..."}``,
optionally with more keys saying what failed (``"model": "model_a"``, ``"field": "entity_id"``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# The answer to a request whose body was not read (too large, or too slow to arrive): the connection is closed
# after it, since the rest of that body would stand in front of the next request.
CLOSE = {"Connection": "close"}


class ApiError(Exception):
    """An error that becomes an HTTP answer of the shared shape (with ``headers``, e.g. ``CLOSE``)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:  # fmt: skip
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return error_body(self.status, self.code, self.message, **self.extra)


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build the JSON body shared by every error answer."""
    return {"status": status, "error": code, "message": message, **extra}


def bad_request(message: str, **extra: Any) -> ApiError:
    """A 400 for a body that is not valid JSON."""
    return ApiError(400, "invalid_json", message, **extra)


def invalid_input(message: str, **extra: Any) -> ApiError:
    """A 422 for valid JSON that is not a valid request."""
    return ApiError(422, "invalid_input", message, **extra)


def body_too_large(limit: int) -> ApiError:
    """A 413 for a body over the size limit."""
    return ApiError(413, "body_too_large", f"request body exceeds {limit} bytes", headers=CLOSE, limit=limit)


def request_timeout() -> ApiError:
    """A 408 for a request (head or body) that did not arrive within its time."""
    return ApiError(408, "request_timeout", "the request did not arrive in time", headers=CLOSE)


def entity_not_found(entity_id: str) -> ApiError:
    """A 404 for an entity with no features in the store."""
    return ApiError(404, "entity_not_found", f"no features stored for entity {entity_id!r}", entity_id=entity_id)


def invalid_features(entity_id: str, reason: str) -> ApiError:
    """A 422 for an entity whose stored features cannot be scored."""
    return ApiError(
        422,
        "invalid_features",
        f"stored features of entity {entity_id!r} are invalid: {reason}",
        entity_id=entity_id,
    )


def feature_store_unavailable(reason: str) -> ApiError:
    """A 503 when the feature store cannot be read."""
    return ApiError(503, "feature_store_unavailable", f"feature store unavailable: {reason}", upstream=["redis"])


def model_unavailable(model: str, reason: str) -> ApiError:
    """A 503 when a model service does not give a valid prediction."""
    return ApiError(503, "model_unavailable", f"model {model!r} unavailable: {reason}", upstream=[model])


def http_error(status: int) -> ApiError:
    """Map a framework-level HTTP error (404 route, 405 method...) to the shared shape, same on both stacks."""
    try:
        known = HTTPStatus(status)
    except ValueError:
        return ApiError(status, "http_error", f"HTTP error {status}")
    code = known.phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")
    return ApiError(status, code, known.description)


def internal_error() -> dict[str, Any]:
    """The body of an unexpected server error (the details go to the log, not to the client)."""
    return error_body(500, "internal_error", "unexpected server error")
