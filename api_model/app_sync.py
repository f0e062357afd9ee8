"""The sync model service: Flask, the simulated wait as ``time.sleep``."""

from __future__ import annotations

import random
import time

from flask import Flask, Response, request

from api_model.cost import InferenceCost
from api_model.description import describe
from api_model.model import load_model
from api_model.payloads import parse_predict_body, prediction_body
from api_model.settings import ModelSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_sync import json_response, read_body, request_context, service_app


def create_app(settings: ModelSettings | None = None, server: ServerSettings | None = None) -> Flask:
    """Build the sync model service for one model (called in each worker, after fork)."""
    settings = settings or ModelSettings()
    model = load_model(settings.artifact_file())
    cost = InferenceCost(settings.wait_min_ms, settings.wait_max_ms, settings.cpu_ms, random.Random())
    app = service_app(describe(model, settings, server or ServerSettings(), "sync"))

    @app.post(predict_path("sync"))
    def predict() -> Response:
        ctx = request_context()
        vector = parse_predict_body(read_body(request, settings.max_body_bytes))
        with ctx.stages.stage("inference"):
            time.sleep(cost.wait_s())
            cost.burn_cpu()
            prediction = model.predict(vector)
        return json_response(prediction_body(model, prediction), stages=ctx.stages)

    return app
