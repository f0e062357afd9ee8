"""The ASGI side of the minimal async apps: one request read within its body limit and answered, and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from benchmark.minimal.protocol import (
    HEALTH,
    HEALTH_ANSWER,
    INTERNAL_ANSWER,
    JSON_TYPE,
    Answer,
    error_answer,
    route,
    too_large,
)
from reference.core import ApiError

log = logging.getLogger(__name__)
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# What the predict route does with the request's content type and body: the answer's body.
Handler = Callable[[str | None, bytes], Awaitable[bytes]]
_CONTENT_TYPE = (b"content-type", JSON_TYPE.encode())


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request's body; a 413 as soon as more than ``limit`` bytes have come (at most one chunk more is held)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if (refused := too_large(size, limit)) is not None:
            raise BodyTooLarge(refused)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def serve(scope: dict[str, Any], receive: Receive, send: Send, predict_path: str, limit: int,
                predict: Handler) -> None:  # fmt: skip
    """One HTTP request: the liveness route, or ``predict`` on the bounded body; errors in the reference's shape."""
    try:
        answer = await _answer(scope, receive, predict_path, limit, predict)
    except ApiError as error:
        answer = error_answer(error)
    except BodyTooLarge as refused:
        answer = refused.answer
    except Exception:
        log.exception("unexpected error on %s %s", scope["method"], scope["path"])
        answer = INTERNAL_ANSWER
    await send_answer(send, answer)


async def _answer(scope: dict[str, Any], receive: Receive, predict_path: str, limit: int, predict: Handler) -> Answer:
    found = route(scope["method"], scope["path"], predict_path)
    if isinstance(found, Answer):
        return found
    if found == HEALTH:
        return HEALTH_ANSWER
    headers = dict(scope["headers"])
    declared = headers.get(b"content-length")
    if (refused := too_large(declared.decode("latin-1") if declared else None, limit)) is not None:
        return refused  # declared too large: refused before any of it is read
    content_type = headers.get(b"content-type")
    body = await read_body(receive, limit)
    return Answer(200, await predict(content_type.decode("latin-1") if content_type else None, body))


async def send_answer(send: Send, answer: Answer) -> None:
    """The answer as JSON, with its length and extra headers."""
    headers = [_CONTENT_TYPE, (b"content-length", str(len(answer.body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in answer.headers]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]],
                   shutdown: Callable[[], Awaitable[None]]) -> None:  # fmt: skip
    """ASGI's lifespan protocol: ``startup`` inside the worker's event loop before it serves, ``shutdown`` after."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await startup()
            except Exception as exc:
                log.exception("startup failed")
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
