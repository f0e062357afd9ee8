"""The OpenAPI documents of the services, built without any web framework, and the page that shows them.

Both stacks serve the same document (only the predict path differs), so the sync stack never imports
FastAPI to describe itself. The handlers parse bodies with the shared plain-Python parsers; the
pydantic models here only describe that behaviour.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service_runtime.core.topology import HEALTHCHECK_PATH, READINESS_PATH

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
BINARY_MEDIA_TYPE = "application/octet-stream"


class ErrorBody(BaseModel):
    """Every error answer of both stacks (more keys may say what failed: ``upstream``, ``field``...)."""

    model_config = ConfigDict(extra="allow")

    status: int = Field(description="The HTTP status, repeated.")
    error: str = Field(description="Machine-readable code, e.g. entity_not_found.")
    message: str = Field(description="What went wrong, for humans.")


ERROR_RESPONSES: dict[int, str] = {
    400: "Body is not valid JSON",
    413: "Body too large",
    422: "Valid JSON, invalid request",
    503: "Overloaded (shed), or a dependency unavailable",
}


@dataclass(frozen=True)
class Operation:
    """One documented route: its method and path, what it takes, and what it answers."""

    method: str
    path: str
    summary: str
    operation_id: str
    response: type[BaseModel] | None = None  # the success answer; None: any JSON
    request: dict[str, Any] | None = None  # the JSON schema of a required request body
    errors: dict[int, str] = field(default_factory=dict)  # status -> description, answered as ErrorBody
    tags: tuple[str, ...] = ()
    description: str = ""
    binary_response: bool = False  # the 200 answer may also be application/octet-stream
    status: int = 200  # of the success answer
    parameters: tuple[dict[str, Any], ...] = ()  # OpenAPI parameter objects (path, header, query)
    headers: dict[str, str] = field(default_factory=dict)  # headers of the success answer: name -> description


def probe_operations() -> list[Operation]:
    """Liveness and readiness, which every service answers."""
    return [
        Operation("get", HEALTHCHECK_PATH, "Liveness check", "healthcheck", tags=("probes",)),
        Operation(
            "get", READINESS_PATH, "Readiness check", "ready", tags=("probes",),
            errors={503: "Draining, or a dependency unavailable"},
        ),
    ]  # fmt: skip


def path_parameter(name: str, pattern: str, description: str) -> dict[str, Any]:
    """A required path parameter: a string matching ``pattern``."""
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}  # fmt: skip


def header_parameter(name: str, pattern: str, description: str) -> dict[str, Any]:
    """An optional request header: a string matching ``pattern``."""
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "pattern": pattern}}  # fmt: skip


def request_body(*alternatives: dict[str, Any]) -> dict[str, Any]:
    """A request-body schema accepting any of the given JSON schemas."""
    return alternatives[0] if len(alternatives) == 1 else {"oneOf": list(alternatives)}


def document(title: str, version: str, operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a service made of ``operations``."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op, schemas)
    return {"openapi": OPENAPI_VERSION, "info": {"title": title, "version": version}, "paths": paths,
            "components": {"schemas": dict(sorted(schemas.items()))}}  # fmt: skip


def _operation(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    answer = _schema_of(op.response, schemas) if op.response else {}
    responses = {str(op.status): _json("Successful Response", answer)}
    if op.binary_response:
        responses[str(op.status)]["content"][BINARY_MEDIA_TYPE] = {"schema": {"type": "string", "format": "binary"}}
    if op.headers:
        responses[str(op.status)]["headers"] = {
            name: {"description": text, "required": True, "schema": {"type": "string"}}
            for name, text in op.headers.items()
        }
    for status, description in sorted(op.errors.items()):
        responses[str(status)] = _json(description, _schema_of(ErrorBody, schemas))
    item: dict[str, Any] = {"summary": op.summary, "operationId": op.operation_id, "responses": responses}
    if op.tags:
        item["tags"] = list(op.tags)
    if op.description:
        item["description"] = op.description
    if op.parameters:
        item["parameters"] = list(op.parameters)
    if op.request is not None:
        item["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.request}}}
    return item


def _schema_of(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Register ``model`` (and the models it uses) under components and return a reference to it."""
    schema = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def swagger_page(title: str, openapi_url: str) -> str:
    """A Swagger UI page for the document at ``openapi_url`` (the browser loads Swagger UI from its CDN)."""
    cdn = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{cdn}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{html.escape(openapi_url)}", dom_id: "#swagger-ui"}});</script>
</body>
</html>
"""
