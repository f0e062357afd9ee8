"""The sync model service: Flask, the simulated wait as ``time.sleep``, the ONNX model on the request's thread,
micro-batching with a batching thread; the Open Inference Protocol over REST beside the study's route, and over
gRPC (grpcio's thread-pool server) in the same worker."""

from __future__ import annotations

import atexit

from flask import Flask, Response, request

from api_model.batcher_sync import Batcher
from api_model.batching import batch_policy, prior_cost_s
from api_model.core import ModelCore
from api_model.description import describe
from api_model.grpc_sync import start_grpc
from api_model.inference_sync import Inference
from api_model.oip_routes_sync import add_oip_routes
from api_model.payloads import parse_predict_body, prediction_body
from api_model.settings import ModelSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.core.topology import predict_path
from service_runtime.web.service_sync import json_response, read_body, request_context, service_app


def create_app(settings: ModelSettings | None = None, server: ServerSettings | None = None) -> Flask:
    """Build the sync model service for one model (called in each worker, after fork)."""
    settings = settings or ModelSettings()
    server = server or ServerSettings()
    core = ModelCore.load(settings)
    model = core.model
    inference = Inference(core, settings)
    predictor: Inference | Batcher = inference
    if settings.batching():
        predictor = Batcher(batch_policy(settings, "sync"), inference.run, prior_cost_s(settings), server.name)
        atexit.register(predictor.close)
    if settings.grpc:
        rpc = start_grpc(core, settings, server)
        atexit.register(rpc.close, settings.grpc_grace_s)
    app = service_app(describe(model, settings, server, "sync"))

    @app.post(predict_path("sync"))
    def predict() -> Response:
        ctx = request_context()
        vector = parse_predict_body(read_body(request, settings.max_body_bytes))
        with ctx.stages.stage("inference"):
            prediction = predictor.predict(vector, ctx.deadline)
        return json_response(prediction_body(model, prediction), stages=ctx.stages)

    add_oip_routes(app, core, inference, settings.max_body_bytes)
    return app
