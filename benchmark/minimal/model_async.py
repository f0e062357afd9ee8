"""``AsyncModelApp``: the minimal async model service, a raw ASGI app (Granian ``--interface asgi``)."""

from __future__ import annotations

import asyncio
from typing import Any

from api_model.payloads import parse_predict_body
from api_model.settings import ModelSettings
from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol_async import Receive, Send, lifespan, serve


class AsyncModelApp:
    """The predict route (the simulated wait as ``await asyncio.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "async")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self._nothing, self._nothing)
            return
        await serve(scope, receive, send, self.core.path, self.core.max_body_bytes, self._predict)

    async def _predict(self, raw: bytes) -> bytes:
        vector = parse_predict_body(raw)
        await asyncio.sleep(self.core.cost.wait_s())
        return self.core.answer(vector)

    async def _nothing(self) -> None:
        """A model service holds no client: nothing to open or close."""


def create_app() -> AsyncModelApp:
    """Build the app in each Granian worker (``--factory``) from ``MODEL_*`` settings."""
    return AsyncModelApp(ModelSettings())
