"""``AsyncModelApp``: the minimal async model service, a raw ASGI app (Granian, ASGI)."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol import parse
from benchmark.minimal.protocol_async import Receive, Send, lifespan, serve
from reference.api import PredictRequest
from reference.settings import ModelSettings


class AsyncModelApp:
    """The predict route (the simulated wait as ``await asyncio.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "async")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self._nothing, self._nothing)
            return
        await serve(scope, receive, send, self.core.path, self.core.max_body_bytes, self._predict)

    async def _predict(self, content_type: str | None, raw: bytes) -> bytes:
        request = parse(content_type, raw, PredictRequest)
        await asyncio.sleep(self.core.cost.wait_s())
        return self.core.answer(tuple(request.features))

    async def _nothing(self) -> None:
        """A model service holds no client: nothing to open or close."""


def create_app() -> AsyncModelApp:
    """The app each Granian worker builds (``benchmark.minimal.model_async:create_app``) from ``MODEL_*``."""
    return AsyncModelApp(ModelSettings())
