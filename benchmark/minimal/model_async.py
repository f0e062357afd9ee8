"""``AsyncModelApp``: the minimal async model service, a raw ASGI app (Granian ``--interface asgi``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from api_model.payloads import parse_predict_body
from api_model.settings import ModelSettings
from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol import HEALTH, HEALTH_ANSWER, INTERNAL_ANSWER, Answer, error_answer, route
from benchmark.minimal.protocol_async import Receive, Send, lifespan, read_body, send_answer
from service_runtime.core.errors import ApiError

log = logging.getLogger(__name__)


class AsyncModelApp:
    """The predict route (the simulated wait as ``await asyncio.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "async")

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self._nothing, self._nothing)
            return
        try:
            if route(scope["method"], scope["path"], self.core.path) == HEALTH:
                answer = HEALTH_ANSWER
            else:
                answer = Answer(200, await self._predict(await read_body(receive, self.core.max_body_bytes)))
        except ApiError as err:
            answer = error_answer(err)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            answer = INTERNAL_ANSWER
        await send_answer(send, answer)

    async def _predict(self, raw: bytes) -> bytes:
        vector = parse_predict_body(raw)
        await asyncio.sleep(self.core.cost.wait_s())
        return self.core.answer(vector)

    async def _nothing(self) -> None:
        """A model service holds no client: nothing to open or close."""


def create_app() -> AsyncModelApp:
    """Build the app in each Granian worker (``--factory``) from ``MODEL_*`` settings."""
    return AsyncModelApp(ModelSettings())
