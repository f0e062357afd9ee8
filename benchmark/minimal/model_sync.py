"""``ModelApp``: the minimal sync model service, a raw WSGI app (Granian, WSGI, blocking threads)."""

from __future__ import annotations

import time
from typing import Any

from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol import parse
from benchmark.minimal.protocol_sync import StartResponse, serve
from reference.api import PredictRequest
from reference.settings import ModelSettings


class ModelApp:
    """The predict route (the simulated wait as ``time.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "sync")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return serve(environ, start_response, self.core.path, self.core.max_body_bytes, self._predict)

    def _predict(self, content_type: str | None, raw: bytes) -> bytes:
        request = parse(content_type, raw, PredictRequest)
        time.sleep(self.core.cost.wait_s())
        return self.core.answer(tuple(request.features))


def create_app() -> ModelApp:
    """The app each Granian worker builds (``benchmark.minimal.model_sync:create_app``) from ``MODEL_*``."""
    return ModelApp(ModelSettings())
