"""The async stack's HTTP protocol: uvicorn's httptools protocol, with the limits it does not have.

uvicorn with httptools enforces no size limit on a request's head (64 MiB header values were accepted and
buffered), and times out a connection only between requests, never one that opens and stays silent or
sends its head byte by byte. This protocol adds, per connection:

- a head limit: past ``SERVER_MAX_HEADER_BYTES`` of head, a 431 and the connection closed, whether the
  head came in one read or many (then before the parser has buffered more than the limit and one read);
- a head timeout: a connection that has not sent a whole request head ``SERVER_HEADER_TIMEOUT_S`` after
  it opened (or after a request began) gets a 408 if it sent part of one, and is closed;
- a connection limit: past ``SERVER_MAX_CONNECTIONS`` on this worker, a new connection is closed at once.

(A request answered before its body arrived, 413 or 408, is closed after its answer: the service sends
``Connection: close``, which uvicorn honours.)

(uvicorn's own ``limit_concurrency`` counts connections too, but answers in plain text; this keeps the
project's error shape.) The body is bounded by the service itself (``read_body``: request timeout and
deadline).
"""

from __future__ import annotations

import asyncio
from functools import cache
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service_runtime.core import jsonio
from service_runtime.core.errors import ApiError, http_error, request_timeout
from service_runtime.core.server_settings import ServerSettings


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limit."""


@cache
def _settings() -> ServerSettings:
    return ServerSettings()  # once per worker: every connection shares it


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a head size limit, a head timeout and a connection limit (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self._header_timeout_s = settings.header_timeout_s
        self._max_head_bytes = settings.max_header_bytes
        self._max_connections = settings.max_connections
        self._head_done = False
        self._head_bytes = 0  # raw bytes received while the head is incomplete
        self._head_parsed = 0  # bytes of the head the parser has handed over: URL and headers
        self._refusal: ApiError | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            transport.abort()  # connection_lost follows and forgets it
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_done or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > self._max_head_bytes:
            self._refuse(http_error(431))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_done = False
        self._head_bytes = self._head_parsed = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self._max_head_bytes:
            self._refusal = http_error(431)
            raise _HeadTooLarge  # stops the parser; uvicorn answers through send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    def on_headers_complete(self) -> None:
        self._head_done = True
        self._cancel_head_timer()
        super().on_headers_complete()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._head_done:
            return
        if self._head_bytes:
            self._refuse(request_timeout())
        else:
            self.transport.close()  # it never sent a byte: nobody to answer

    def _refuse(self, err: ApiError) -> None:
        """Answer ``err`` in the project's error shape and close the connection."""
        body = jsonio.dumps(err.body())
        head = (f"HTTP/1.1 {err.status} {HTTPStatus(err.status).phrase}\r\ncontent-type: {jsonio.JSON_MEDIA_TYPE}\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")  # fmt: skip
        self._cancel_head_timer()
        self.transport.write(head.encode("latin-1") + body)
        self.transport.close()
