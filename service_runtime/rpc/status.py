"""The project's errors as gRPC status codes: the same error is one HTTP status and one gRPC code on both stacks."""

from __future__ import annotations

import grpc

from service_runtime.core.errors import ApiError

# Errors whose code says more than their HTTP status does.
_BY_CODE = {
    "overloaded": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "body_too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "deadline_exceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
    "request_timeout": grpc.StatusCode.DEADLINE_EXCEEDED,
}
_BY_STATUS = {
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code(err: ApiError) -> grpc.StatusCode:
    """The gRPC code of an error: bad input is ``INVALID_ARGUMENT``, overload ``RESOURCE_EXHAUSTED``, a spent
    deadline ``DEADLINE_EXCEEDED``, an unknown model ``NOT_FOUND``, a dependency down ``UNAVAILABLE``."""
    if err.code in _BY_CODE:
        return _BY_CODE[err.code]
    if err.status in _BY_STATUS:
        return _BY_STATUS[err.status]
    if 400 <= err.status < 500:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL
