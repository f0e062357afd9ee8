"""The JSON codec of both stacks: orjson, strict RFC 8259 (no NaN, no Infinity, depth-limited)."""

from __future__ import annotations

from typing import Any

import orjson

from service_runtime.core.errors import bad_request

JSON_MEDIA_TYPE = "application/json"


def dumps(obj: Any) -> bytes:
    """Encode a response body; floats keep their exact shortest round-trip form."""
    return orjson.dumps(obj)


def loads(raw: bytes) -> Any:
    """Decode a request body, turning every decoding failure into a 400 of the shared shape."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson rejects NaN/Infinity, numbers that overflow a double (1e309, huge integers),
        # nesting deeper than 1024 and invalid UTF-8: all are client errors.
        raise bad_request(f"body is not valid JSON: {exc}") from None
