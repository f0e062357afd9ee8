"""The minimal twin stacks (benchmark/minimal): no framework loaded, started by the registry on Granian with the
real stacks' layout and without an edge, and their framework-free routing and answers."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.minimal.protocol import HEALTH, PREDICT, check_body_size, error_answer, route, status_line
from service_runtime.core.errors import ApiError, entity_not_found
from service_runtime.core.server_settings import ServerSettings, cpu_count
from service_runtime.core.topology import HEALTHCHECK_PATH, ROLES, STACKS, predict_path
from system_launcher.registry import (
    GRANIAN_SERVE,
    SERVICES,
    service,
    service_argv,
    service_env,
    settings_of,
    stack_services,
)
from system_launcher.settings import StackSettings
from system_launcher.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]
APPS = [f"benchmark.minimal.{kind}_{stack}" for kind in ("scoring", "model") for stack in STACKS]
# What the minimal apps leave out: web frameworks, servers' Python layers, metrics, and the project's own wiring.
FRAMEWORKS = ("fastapi", "starlette", "flask", "werkzeug", "gunicorn", "uvicorn", "uvicorn_worker",
              "prometheus_client", "service_runtime.web", "service_runtime.server")  # fmt: skip


@pytest.mark.parametrize("app", APPS)
def test_the_minimal_apps_load_no_framework(app):
    # A fresh interpreter, as a Granian worker: import the app module and build the app with its factory.
    probe = (
        f"import sys, {app} as m; m.create_app(); "
        "import feature_store.redis_without_asyncio as r; "
        f"print(sorted(n for n in sys.modules if n.startswith({FRAMEWORKS!r}))); "
        "print('aiohttp' in sys.modules, r.async_client_loaded())"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded, async_clients = result.stdout.splitlines()
    assert loaded == "[]"
    # The sync twins, like the real sync apps, never load aiohttp or redis-py's async client (the probe can tell:
    # the async scoring twin loads both).
    assert async_clients == ("True True" if app == "benchmark.minimal.scoring_async" else "False False")


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role", ROLES)
def test_the_registry_starts_each_minimal_service_on_granian_with_its_factory(stack, role):
    svc = service(stack, role, "minimal")
    argv = service_argv(svc, StackSettings(), "python")
    assert argv[:3] == ["python", "-m", GRANIAN_SERVE]
    assert (
        service_env(svc, StackSettings())["SERVER_WORKER_CLASS"]
        == {"async": "granian-asgi", "sync": "granian-wsgi"}[stack]
    )
    module, factory = argv[-1].split(":")
    assert callable(getattr(importlib.import_module(module), factory))
    assert svc.name == f"minimal-{stack}-{role.replace('_', '-')}"


@pytest.mark.parametrize("stack", STACKS)
def test_a_minimal_stack_keeps_the_real_layout(stack):
    settings = StackSettings()
    model_a, scoring, model_b = (service_env(service(stack, role, "minimal"), settings) for role in ROLES)
    server = {name: settings_of(ServerSettings, env) for name, env in (("scoring", scoring), ("model_a", model_a))}
    assert scoring["SERVER_PORT"] == str(settings.port(stack, "scoring"))  # no edge: the public port
    assert scoring["SERVER_HOST"] == "127.0.0.1"
    assert server["scoring"].worker_count() == cpu_count()  # one per core, as the real scoring service
    assert model_a["SERVER_WORKERS"] == model_b["SERVER_WORKERS"] == "1"  # as STACK_MODEL_WORKERS
    assert scoring["SCORING_MODEL_B_URL"] == service(stack, "model_b", "minimal").predict_url(settings)
    assert model_b["MODEL_NAME"] == "model_b"
    if stack == "sync":  # gthread's threads: 64 per scoring worker, 128 in the model
        assert (server["scoring"].concurrency_per_worker(), server["model_a"].concurrency_per_worker()) == (64, 128)
    else:
        assert server["scoring"].concurrency_per_worker() == 1


@pytest.mark.parametrize("stack", STACKS)
def test_a_minimal_stack_has_no_edge_and_is_not_part_of_the_system(stack):
    settings = StackSettings(edge=True)
    scoring = service(stack, "scoring", "minimal")
    assert scoring.url(settings) == scoring.direct_url(settings)
    assert "SERVER_TRUST_REQUEST_START" not in service_env(scoring, settings)
    assert Supervisor(settings, stack_services(stack, "minimal")).edges() == []
    assert all(s.build == "full" for s in SERVICES)  # make up, compose and Kubernetes never run them


def test_the_two_routes_and_what_else_the_real_stacks_answer():
    assert route("POST", predict_path("sync"), predict_path("sync")) == PREDICT
    assert route("GET", HEALTHCHECK_PATH, predict_path("sync")) == HEALTH
    with pytest.raises(ApiError) as wrong_method:
        route("GET", predict_path("sync"), predict_path("sync"))
    assert (wrong_method.value.status, wrong_method.value.headers) == (405, {"Allow": "POST"})
    with pytest.raises(ApiError) as unknown:
        route("POST", predict_path("async"), predict_path("sync"))
    assert unknown.value.body()["error"] == "not_found"


@pytest.mark.parametrize(("size", "refused"), [(None, False), ("", False), ("65536", False), (65_536, False),
                                               ("65537", True), (65_537, True)])  # fmt: skip
def test_a_body_over_the_limit_is_413(size, refused):
    if refused:
        with pytest.raises(ApiError) as err:
            check_body_size(size, 65_536)
        assert (err.value.status, err.value.headers) == (413, {"Connection": "close"})
    else:
        check_body_size(size, 65_536)


def test_errors_have_the_shared_shape_and_wsgi_status_lines():
    answer = error_answer(entity_not_found("x"))
    assert answer.status == 404
    assert answer.body == b'{"status":404,"error":"entity_not_found","message":"no features stored for entity \'x\'",' \
                          b'"entity_id":"x"}'  # fmt: skip
    assert status_line(200) == "200 OK"
    assert status_line(422) == "422 Unprocessable Entity"
