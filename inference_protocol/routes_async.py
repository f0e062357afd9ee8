"""The protocol's REST routes on the async model service (FastAPI), over the model in ``app.state.model``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from inference_protocol.metadata import ModelMetadataBody, ServerMetadataBody, server_body
from inference_protocol.paths import (
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    OIP_SERVER_PATH,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
)
from inference_protocol.rest import BINARY_ANSWER, HEADER_LENGTH, InferResponseBody
from inference_protocol.routes import (
    INFER_DESCRIPTION,
    INFER_ERRORS,
    INFER_OPERATION_ID,
    TAGS,
    VERSION_ERRORS,
    VERSION_INFER_OPERATION_ID,
    LiveBody,
    ModelReadyBody,
    ReadyBody,
    answer,
    infer_request_doc,
    parse,
)
from inference_protocol.served import AsyncServedModel, metadata_of
from reference.service import RequestContext
from reference.web_async import Context, documented


async def get_model(request: Request) -> AsyncServedModel:
    return request.app.state.model


Model = Annotated[AsyncServedModel, Depends(get_model)]


def oip_router(model_name: str) -> APIRouter:
    """Health, metadata and inference of ``model_name`` under ``/v2``, each model route also at its versioned path."""
    router = APIRouter(tags=TAGS)
    infer_doc = {"openapi_extra": {"requestBody": infer_request_doc()}, "description": INFER_DESCRIPTION}
    answers = {200: {"model": InferResponseBody, "content": BINARY_ANSWER}} | documented(INFER_ERRORS)

    @router.get(OIP_SERVER_PATH, summary="Server metadata")
    async def server_metadata(model: Model) -> ServerMetadataBody:
        return server_body(model.version)

    @router.get(OIP_LIVE_PATH, summary="Server liveness")
    async def server_live() -> LiveBody:
        return LiveBody(live=True)

    @router.get(OIP_READY_PATH, summary="Server readiness")
    async def server_ready() -> ReadyBody:
        return ReadyBody(ready=True)

    @router.get(oip_model_path(model_name), summary="Model metadata")
    async def model_metadata(model: Model) -> ModelMetadataBody:
        return metadata_of(model).body()

    @router.get(oip_model_path(model_name, "{version}"), summary="Model version metadata",
                responses=documented(VERSION_ERRORS))  # fmt: skip
    async def version_metadata(version: str, model: Model) -> ModelMetadataBody:
        metadata = metadata_of(model)
        metadata.check(model_name, version)
        return metadata.body()

    @router.get(oip_model_ready_path(model_name), summary="Model readiness")
    async def model_ready(model: Model) -> ModelReadyBody:
        return ModelReadyBody(name=model.name, ready=True)

    @router.get(oip_model_ready_path(model_name, "{version}"), summary="Model version readiness",
                responses=documented(VERSION_ERRORS))  # fmt: skip
    async def version_ready(version: str, model: Model) -> ModelReadyBody:
        metadata_of(model).check(model_name, version)
        return ModelReadyBody(name=model.name, ready=True)

    @router.post(oip_infer_path(model_name), summary="Inference on rows of features", responses=answers,
                 operation_id=INFER_OPERATION_ID, **infer_doc)  # fmt: skip
    async def infer(request: Request, model: Model, ctx: Context) -> Response:
        return await _infer(request, model, ctx)

    @router.post(oip_infer_path(model_name, "{version}"), summary="Inference by a model version",
                 responses=answers | documented(VERSION_ERRORS), operation_id=VERSION_INFER_OPERATION_ID,
                 **infer_doc)  # fmt: skip
    async def version_infer(version: str, request: Request, model: Model, ctx: Context) -> Response:
        metadata_of(model).check(model_name, version)
        return await _infer(request, model, ctx)

    return router


async def _infer(request: Request, model: AsyncServedModel, ctx: RequestContext) -> Response:
    parsed, vectors = parse(await request.body(), request.headers.get(HEADER_LENGTH))
    with ctx.stages.stage("inference"):
        predictions = await model.predict_rows(vectors, ctx)
    body, headers = answer(metadata_of(model), parsed, predictions)
    return Response(body, headers=headers)
