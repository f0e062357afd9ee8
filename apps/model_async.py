"""The async model service as make up runs it: the reference's, with the Open Inference Protocol over REST and gRPC,
and the lab's model kinds, accelerator and micro-batching."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from apps.profiling_async import add_profiling
from inference_protocol.grpc_async import start_grpc
from inference_protocol.paths import OIP_LIVE_PATH, OIP_READY_PATH, oip_infer_path
from inference_protocol.routes_async import oip_router
from inference_protocol.settings import ProtocolSettings
from model_serving.models_async import open_model
from model_serving.settings import ServingSettings
from reference import model_async
from reference.api import predict_path
from reference.service import Service
from reference.settings import ModelCostSettings, ModelSettings
from reference.web_async import service_app

STACK = "async"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The worker's gRPC server runs in its event loop beside HTTP, over the same model."""
    protocol: ProtocolSettings = app.state.protocol
    grpc = await start_grpc(app.state.model, app.state.settings, protocol, STACK) if protocol.grpc else None
    try:
        yield
    finally:
        if grpc is not None:
            await grpc.aclose(protocol.grpc_grace_s)
        await app.state.model.aclose()


def create_app() -> FastAPI:
    """``apps.model_async:create_app()``."""
    settings, lab = ModelSettings(), ServingSettings()
    model = open_model(settings, ModelCostSettings(), lab)
    timed = [predict_path(STACK), oip_infer_path(model.name)]
    service = Service.of(settings, STACK, timed, lab.deadline_s(), probes=[OIP_LIVE_PATH, OIP_READY_PATH])
    app = service_app(service, f"{model.name} ({STACK})", model.version, settings.max_body_bytes, lifespan)
    app.state.model, app.state.settings, app.state.protocol = model, settings, ProtocolSettings()
    app.include_router(model_async.router)
    app.include_router(oip_router(model.name))
    add_profiling(app, settings.model, STACK)
    return app
