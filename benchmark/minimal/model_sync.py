"""``ModelApp``: the minimal sync model service, a raw WSGI app (Granian ``--interface wsgi``, blocking threads)."""

from __future__ import annotations

import time
from typing import Any

from api_model.payloads import parse_predict_body
from api_model.settings import ModelSettings
from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol_sync import StartResponse, serve


class ModelApp:
    """The predict route (the simulated wait as ``time.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "sync")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return serve(environ, start_response, self.core.path, self.core.max_body_bytes, self._predict)

    def _predict(self, raw: bytes) -> bytes:
        vector = parse_predict_body(raw)
        time.sleep(self.core.cost.wait_s())
        return self.core.answer(vector)


def create_app() -> ModelApp:
    """Build the app in each Granian worker (``--factory``) from ``MODEL_*`` settings."""
    return ModelApp(ModelSettings())
