"""The Open Inference Protocol's REST routes on the async model service (FastAPI)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api_model.core import ModelCore, all_results
from api_model.inference_async import AsyncInference
from api_model.oip import live_body, model_ready_body, parse_rest_infer, ready_body, rest_infer_answer, when_ready
from inference_protocol.metadata import server_body
from inference_protocol.rest import HEADER_LENGTH
from service_runtime.core.timing import SERVER_TIMING
from service_runtime.core.topology import (
    OIP_LIVE_PATH,
    OIP_READY_PATH,
    OIP_SERVER_PATH,
    oip_infer_path,
    oip_model_path,
    oip_model_ready_path,
)
from service_runtime.web.service_async import json_response, read_body, request_context


def add_oip_routes(app: FastAPI, core: ModelCore, inference: AsyncInference, max_body_bytes: int) -> None:
    """Health, metadata and inference of the one model ``core`` holds, under ``/v2``."""
    metadata = core.metadata
    name = metadata.name

    @app.get(OIP_SERVER_PATH)
    async def oip_server_metadata() -> Response:
        return json_response(server_body(metadata.version))

    @app.get(OIP_LIVE_PATH)
    async def oip_live() -> Response:
        return json_response(live_body())

    @app.get(OIP_READY_PATH)
    async def oip_ready() -> Response:
        status, body = when_ready(ready_body())
        return json_response(body, status)

    @app.get(oip_model_path(name))
    async def oip_model_metadata() -> Response:
        return json_response(metadata.body())

    @app.get(oip_model_ready_path(name))
    async def oip_model_ready() -> Response:
        status, body = when_ready(model_ready_body(name))
        return json_response(body, status)

    @app.post(oip_infer_path(name))
    async def oip_infer(request: Request) -> Response:
        ctx = request_context(request)
        raw = await read_body(request, max_body_bytes)
        parsed, vectors = parse_rest_infer(raw, request.headers.get(HEADER_LENGTH))
        with ctx.stages.stage("inference"):
            predictions = all_results(await inference.run(vectors, ctx.deadline))
        body, headers = rest_infer_answer(metadata, parsed, predictions)
        return Response(body, headers=headers | {SERVER_TIMING: ctx.stages.header()})
