"""The sync model service as make up runs it: the reference's, with the Open Inference Protocol over REST and gRPC,
and the lab's model kinds, accelerator and micro-batching."""

from __future__ import annotations

import atexit

from flask_openapi3 import OpenAPI

from apps.profiling_sync import add_profiling
from inference_protocol.grpc_sync import start_grpc
from inference_protocol.paths import OIP_LIVE_PATH, OIP_READY_PATH, oip_infer_path
from inference_protocol.routes_sync import oip_blueprint
from inference_protocol.settings import ProtocolSettings
from model_serving.models_sync import open_model
from model_serving.settings import ServingSettings
from reference import model_sync
from reference.api import predict_path
from reference.service import Service
from reference.settings import ModelCostSettings, ModelSettings
from reference.web_sync import service_app

STACK = "sync"


def create_app() -> OpenAPI:
    """``apps.model_sync:create_app()``; gunicorn calls it in each worker, after the fork."""
    settings, lab, protocol = ModelSettings(), ServingSettings(), ProtocolSettings()
    model = open_model(settings, ModelCostSettings(), lab)
    atexit.register(model.close)
    if protocol.grpc:  # the worker's gRPC server, on threads of its own beside HTTP, over the same model
        grpc = start_grpc(model, settings, protocol, STACK)
        atexit.register(grpc.close, protocol.grpc_grace_s)
    timed = [predict_path(STACK), oip_infer_path(model.name)]
    service = Service.of(settings, STACK, timed, lab.deadline_s(), probes=[OIP_LIVE_PATH, OIP_READY_PATH])
    app = service_app(service, f"{model.name} ({STACK})", model.version, settings.max_body_bytes)
    app.extensions["model"] = model
    app.register_api(model_sync.bp)
    app.register_api(oip_blueprint(model.name))
    add_profiling(app, settings.model, STACK)
    return app
