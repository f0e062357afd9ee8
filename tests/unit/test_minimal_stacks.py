"""The minimal twins (benchmark/minimal): no framework loaded, started by the registry on Granian with the stacks'
layout and without an edge, and their framework-free routing, body checks and answers."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.minimal.protocol import HEALTH, PREDICT, Answer, error_answer, parse, route, status_line, too_large
from reference.api import HEALTH_PATH, PredictRequest, ScoreRequest, predict_path
from reference.core import ApiError
from reference.settings import ServiceSettings, cores
from server_variants.commands import GRANIAN_SERVE
from system_launcher.registry import (
    SERVICES,
    service,
    service_argv,
    service_env,
    settings_of,
    stack_services,
)
from system_launcher.settings import StackSettings
from system_launcher.supervisor import Supervisor
from system_launcher.topology import ROLES, STACKS

ROOT = Path(__file__).resolve().parents[2]
APPS = [f"benchmark.minimal.{kind}_{stack}" for kind in ("scoring", "model") for stack in STACKS]
# What the minimal apps leave out: web frameworks, servers' Python layers, metrics.
FRAMEWORKS = ("fastapi", "starlette", "flask", "flask_openapi3", "werkzeug", "gunicorn", "uvicorn", "uvicorn_worker",
              "prometheus_client")  # fmt: skip
# The only modules of this project they load: the reference's pure code and settings, and their own.
PURE = {"reference", "reference.core", "reference.api", "reference.settings", "benchmark", "benchmark.minimal"}
PROJECT = ("reference", "benchmark", "apps", "system_launcher", "server_variants", "model_serving",
           "inference_protocol", "job_queue", "feature_store")  # fmt: skip


@pytest.mark.parametrize("app", APPS)
def test_the_minimal_apps_load_no_framework_and_only_the_references_pure_code(app):
    # A fresh interpreter, as a Granian worker: import the app module and build the app with its factory.
    probe = (
        f"import json, sys, {app} as m; m.create_app(); "
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in {FRAMEWORKS!r}))); "
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in {PROJECT!r}))); "
        "print('aiohttp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    frameworks, project, aiohttp = result.stdout.splitlines()
    assert frameworks == "[]"
    assert {n for n in json.loads(project) if not n.startswith("benchmark.minimal.")} <= PURE
    # The sync twins, like the reference's sync apps, never load aiohttp (the probe can tell: the async scoring
    # twin does).
    assert aiohttp == str(app == "benchmark.minimal.scoring_async")


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role", ROLES)
def test_the_registry_starts_each_minimal_service_on_granian_with_its_factory(stack, role):
    svc = service(stack, role, "minimal")
    argv = service_argv(svc, StackSettings(), "python")
    interface = {"async": "asgi", "sync": "wsgi"}[stack]
    assert argv[:-1] == ["python", "-m", GRANIAN_SERVE, "--interface", interface]
    module, factory = argv[-1].split(":")
    assert module.startswith("benchmark.minimal.")
    assert callable(getattr(importlib.import_module(module), factory))
    assert svc.name == f"minimal-{stack}-{role.replace('_', '-')}"


@pytest.mark.parametrize("stack", STACKS)
def test_a_minimal_stack_keeps_the_stacks_layout(stack):
    settings = StackSettings()
    model_a, scoring, model_b = (service_env(service(stack, role, "minimal"), settings) for role in ROLES)
    server = {name: settings_of(ServiceSettings, env) for name, env in (("scoring", scoring), ("model_a", model_a))}
    assert scoring["SERVER_PORT"] == str(settings.port(stack, "scoring"))  # no edge: the public port
    assert scoring["SERVER_HOST"] == "127.0.0.1"
    assert server["scoring"].worker_count() == cores()  # one per core, as the reference's scoring service
    assert model_a["SERVER_WORKERS"] == model_b["SERVER_WORKERS"] == "1"  # as STACK_MODEL_WORKERS
    twins = [service(stack, model, "minimal").predict_url(settings) for model in ("model_a", "model_b")]
    assert json.loads(scoring["SCORING_MODEL_URLS"]) == twins
    assert model_b["MODEL_NAME"] == "model_b"
    # Granian's WSGI worker has gthread's threads: 64 per scoring worker, 128 in a model (ASGI: the event loop).
    assert (server["scoring"].threads, server["model_a"].threads) == (64, 128)


@pytest.mark.parametrize("stack", STACKS)
def test_a_minimal_stack_has_no_edge_and_is_not_part_of_the_system(stack):
    settings = StackSettings(edge=True)
    scoring = service(stack, "scoring", "minimal")
    assert scoring.url(settings) == scoring.direct_url(settings)
    assert "SERVER_TRUST_REQUEST_START" not in service_env(scoring, settings)
    assert Supervisor(settings, stack_services(stack, "minimal")).edges() == []
    assert all(s.build == "full" for s in SERVICES)  # make up, compose and Kubernetes never run them


def test_the_two_routes_and_what_else_the_reference_answers():
    assert route("POST", predict_path("sync"), predict_path("sync")) == PREDICT
    assert route("GET", HEALTH_PATH, predict_path("sync")) == HEALTH
    wrong_method = route("GET", predict_path("sync"), predict_path("sync"))
    assert isinstance(wrong_method, Answer)
    assert (wrong_method.status, wrong_method.headers) == (405, (("Allow", "POST"),))
    unknown = route("POST", predict_path("async"), predict_path("sync"))
    assert isinstance(unknown, Answer)
    assert json.loads(unknown.body)["error"] == "not_found"


@pytest.mark.parametrize(("size", "refused"), [(None, False), ("", False), ("65536", False), (65_536, False),
                                               ("65537", True), (65_537, True), ("-1", False)])  # fmt: skip
def test_a_body_over_the_limit_is_413_and_closes_the_connection(size, refused):
    answer = too_large(size, 65_536)
    if not refused:
        assert answer is None
        return
    assert answer is not None
    assert (answer.status, answer.headers) == (413, (("Connection", "close"),))
    assert json.loads(answer.body) == {"status": 413, "error": "body_too_large",
                                       "message": "the request body exceeds 65536 bytes", "limit": 65536}  # fmt: skip


@pytest.mark.parametrize(("content_type", "raw", "status", "code"), [
    (None, b'{"entity_id": "1"}', 415, "unsupported_media_type"),
    ("text/plain", b'{"entity_id": "1"}', 415, "unsupported_media_type"),
    ("application/json", b"", 400, "invalid_json"),
    ("application/json", b'{"entity_id": ', 400, "invalid_json"),
    ("application/json", b"[" * 10_000 + b"]" * 10_000, 400, "invalid_json"),
    ("application/json", b'{"entity_id": "a:b"}', 422, "invalid_input"),
    ("application/json", b"null", 422, "invalid_input"),
])  # fmt: skip
def test_a_bad_body_gets_the_references_status(content_type, raw, status, code):
    with pytest.raises(ApiError) as refused:
        parse(content_type, raw, ScoreRequest)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_good_body_is_the_references_request_whatever_its_json_content_type():
    assert parse("application/json; charset=utf-8", b'{"entity_id": "42"}', ScoreRequest).entity_id == "42"
    assert parse("application/vnd.api+json", b'{"features": [1, 2, 3, 4]}', PredictRequest).features == [1, 2, 3, 4]


def test_errors_have_the_one_shape_and_wsgi_status_lines():
    answer = error_answer(ApiError(404, "entity_not_found", "no features stored for entity 'x'", entity_id="x"))
    assert answer.status == 404
    assert answer.body == b'{"status":404,"error":"entity_not_found","message":"no features stored for entity \'x\'",' \
                          b'"entity_id":"x"}'  # fmt: skip
    assert status_line(200) == "200 OK"
    assert status_line(422) == "422 Unprocessable Entity"
