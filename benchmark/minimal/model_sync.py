"""``ModelApp``: the minimal sync model service, a raw WSGI app (Granian ``--interface wsgi``, blocking threads)."""

from __future__ import annotations

import logging
import time
from typing import Any

from api_model.payloads import parse_predict_body
from api_model.settings import ModelSettings
from benchmark.minimal.model import ModelCore
from benchmark.minimal.protocol import HEALTH, HEALTH_ANSWER, INTERNAL_ANSWER, Answer, error_answer, route
from benchmark.minimal.protocol_sync import StartResponse, read_body, respond
from service_runtime.core.errors import ApiError

log = logging.getLogger(__name__)


class ModelApp:
    """The predict route (the simulated wait as ``time.sleep``) and the liveness route."""

    def __init__(self, settings: ModelSettings) -> None:
        self.core = ModelCore(settings, "sync")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            if route(environ["REQUEST_METHOD"], environ["PATH_INFO"], self.core.path) == HEALTH:
                answer = HEALTH_ANSWER
            else:
                answer = Answer(200, self._predict(read_body(environ, self.core.max_body_bytes)))
        except ApiError as err:
            answer = error_answer(err)
        except Exception:
            log.exception("unexpected error on %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
            answer = INTERNAL_ANSWER
        return respond(start_response, answer)

    def _predict(self, raw: bytes) -> bytes:
        vector = parse_predict_body(raw)
        time.sleep(self.core.cost.wait_s())
        return self.core.answer(vector)


def create_app() -> ModelApp:
    """Build the app in each Granian worker (``--factory``) from ``MODEL_*`` settings."""
    return ModelApp(ModelSettings())
