"""The protocol's REST routes on the sync model service (Flask), over the model in ``current_app.extensions``."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from inference_protocol.metadata import ModelMetadataBody, ServerMetadataBody, server_body
from inference_protocol.paths import (
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    OIP_SERVER_PATH,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
)
from inference_protocol.rest import HEADER_LENGTH, JSON_MEDIA_TYPE, InferResponseBody
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
from inference_protocol.served import ServedModel, metadata_of
from reference.web_sync import documented, get_context


class VersionPath(BaseModel):
    """A model version in a path."""

    version: str


def get_model() -> ServedModel:
    return current_app.extensions["model"]


def oip_blueprint(model_name: str) -> APIBlueprint:
    """Health, metadata and inference of ``model_name`` under ``/v2``, each model route also at its versioned path."""
    bp = APIBlueprint("inference_protocol", __name__, abp_tags=[Tag(name=tag) for tag in TAGS])
    infer_doc = {"openapi_extensions": {"requestBody": infer_request_doc()}, "description": INFER_DESCRIPTION}
    answers = {200: InferResponseBody} | documented(INFER_ERRORS)

    @bp.get(OIP_SERVER_PATH, summary="Server metadata", responses={200: ServerMetadataBody})
    def server_metadata() -> Response:
        return _json(server_body(get_model().version))

    @bp.get(OIP_LIVE_PATH, summary="Server liveness", responses={200: LiveBody})
    def server_live() -> Response:
        return _json(LiveBody(live=True))

    @bp.get(OIP_READY_PATH, summary="Server readiness", responses={200: ReadyBody})
    def server_ready() -> Response:
        return _json(ReadyBody(ready=True))

    @bp.get(oip_model_path(model_name), summary="Model metadata", responses={200: ModelMetadataBody})
    def model_metadata() -> Response:
        return _json(metadata_of(get_model()).body())

    @bp.get(oip_model_path(model_name, "<version>"), summary="Model version metadata",
            responses={200: ModelMetadataBody, **documented(VERSION_ERRORS)})  # fmt: skip
    def version_metadata(path: VersionPath) -> Response:
        metadata = metadata_of(get_model())
        metadata.check(model_name, path.version)
        return _json(metadata.body())

    @bp.get(oip_model_ready_path(model_name), summary="Model readiness", responses={200: ModelReadyBody})
    def model_ready() -> Response:
        return _json(ModelReadyBody(name=get_model().name, ready=True))

    @bp.get(oip_model_ready_path(model_name, "<version>"), summary="Model version readiness",
            responses={200: ModelReadyBody, **documented(VERSION_ERRORS)})  # fmt: skip
    def version_ready(path: VersionPath) -> Response:
        model = get_model()
        metadata_of(model).check(model_name, path.version)
        return _json(ModelReadyBody(name=model.name, ready=True))

    @bp.post(oip_infer_path(model_name), summary="Inference on rows of features", responses=answers,
             operation_id=INFER_OPERATION_ID, **infer_doc)  # fmt: skip
    def infer() -> Response:
        return _infer()

    @bp.post(oip_infer_path(model_name, "<version>"), summary="Inference by a model version",
             responses=answers | documented(VERSION_ERRORS), operation_id=VERSION_INFER_OPERATION_ID,
             **infer_doc)  # fmt: skip
    def version_infer(path: VersionPath) -> Response:
        metadata_of(get_model()).check(model_name, path.version)
        return _infer()

    return bp


def _infer() -> Response:
    ctx, model = get_context(), get_model()
    parsed, vectors = parse(request.get_data(), request.headers.get(HEADER_LENGTH))
    with ctx.stages.stage("inference"):
        predictions = model.predict_rows(vectors, ctx)
    body, headers = answer(metadata_of(model), parsed, predictions)
    return Response(body, headers=headers)


def _json(body: BaseModel) -> Response:
    return Response(body.model_dump_json(), mimetype=JSON_MEDIA_TYPE)
