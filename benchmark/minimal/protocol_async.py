"""The ASGI side of the minimal async apps: reading a bounded body, sending an answer, the lifespan."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from benchmark.minimal.protocol import (
    HEALTH,
    HEALTH_ANSWER,
    INTERNAL_ANSWER,
    Answer,
    check_body_size,
    error_answer,
    route,
)
from service_runtime.core.errors import ApiError
from service_runtime.core.jsonio import JSON_MEDIA_TYPE

log = logging.getLogger(__name__)
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
_CONTENT_TYPE = (b"content-type", JSON_MEDIA_TYPE.encode())


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body; a 413 as soon as more than ``limit`` bytes have come (at most one chunk more is held)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        check_body_size(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def serve(scope: dict[str, Any], receive: Receive, send: Send, predict_path: str, limit: int,
                predict: Callable[[bytes], Awaitable[bytes]]) -> None:  # fmt: skip
    """One HTTP request: the liveness route, or ``predict`` on the bounded body; errors in the project's shape."""
    try:
        if route(scope["method"], scope["path"], predict_path) == HEALTH:
            answer = HEALTH_ANSWER
        else:
            answer = Answer(200, await predict(await read_body(receive, limit)))
    except ApiError as err:
        answer = error_answer(err)
    except Exception:
        log.exception("unexpected error on %s %s", scope["method"], scope["path"])
        answer = INTERNAL_ANSWER
    await send_answer(send, answer)


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
