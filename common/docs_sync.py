"""OpenAPI document and Swagger UI for the sync (Flask) services, generated from their FastAPI twins.

The sync apps declare no schema of their own: their document is the async twin's, with the
predict path renamed, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from flask import Flask, Response

from common import jsonio
from common.openapi import spec_for_stack
from common.routes import predict_path

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"


def sync_spec(async_twin: Callable[[], FastAPI], title: str) -> dict[str, Any]:
    """The async twin's OpenAPI document, with the predict path of the sync stack."""
    return spec_for_stack(async_twin().openapi(), predict_path("async"), predict_path("sync"), title)


def add_docs(app: Flask, spec: dict[str, Any]) -> None:
    """Serve ``/openapi.json`` and a Swagger UI page at ``/docs``, as FastAPI does."""
    body = jsonio.dumps(spec)
    page = get_swagger_ui_html(openapi_url=OPENAPI_PATH, title=spec["info"]["title"]).body

    @app.get(OPENAPI_PATH)
    def openapi() -> Response:
        return Response(body, mimetype=jsonio.JSON_MEDIA_TYPE)

    @app.get(DOCS_PATH)
    def docs() -> Response:
        return Response(page, mimetype="text/html")
