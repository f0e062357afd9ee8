"""The build ladder (benchmark/ladder): the registry's commands and environment of the people and bare builds, and
their model apps in-process (the reference's answer; the bare build's error shape without the service middleware)."""

from __future__ import annotations

import asyncio
import importlib
import json

import httpx
import pytest

from benchmark.stacks.running import running_stack
from reference.api import HEALTH_PATH, METRICS_PATH, predict_path
from reference.settings import ServiceSettings, cores
from server_variants import server_argv
from system_launcher.registry import (
    BUILDS,
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

VECTOR = {"features": [5.1, 3.5, 1.4, 0.2]}
# What the model_a service answers for VECTOR (the reference's model, tests/reference checks it against the formula).
ANSWER = b'{"model":"model_a","version":"1.0.0","prediction":0.02209632215337017}'


def test_the_ladder_runs_from_the_full_build_down_to_the_floor():
    assert BUILDS == ("full", "people", "bare", "minimal")
    assert all(s.build == "full" for s in SERVICES)  # make up, compose and Kubernetes never run the others


@pytest.mark.parametrize("role", ROLES)
def test_the_people_build_is_served_as_the_frameworks_docs_deploy_it(role, monkeypatch):
    monkeypatch.delenv("SERVER_WORKERS", raising=False)
    settings = StackSettings()
    kind = "scoring" if role == "scoring" else "model"
    port = str(settings.port("async", role))
    assert service_argv(service("async", role, "people"), settings, "py") == [
        "py", "-m", "uvicorn", "--factory", f"benchmark.ladder.{kind}_people_async:create_app",
        "--host", "127.0.0.1", "--port", port, "--workers", str(cores()),
    ]  # fmt: skip
    port = str(settings.port("sync", role))
    assert service_argv(service("sync", role, "people"), settings, "py") == [
        "py", "-m", "gunicorn", "-w", str(cores()), "--bind", f"127.0.0.1:{port}", "--no-control-socket",
        f"benchmark.ladder.{kind}_people_sync:create_app()",
    ]  # fmt: skip


def test_the_people_build_runs_server_workers_processes_when_it_is_set(monkeypatch):
    monkeypatch.setenv("SERVER_WORKERS", "3")
    for stack in STACKS:
        argv = service_argv(service(stack, "model_a", "people"), StackSettings(), "py")
        flag = "--workers" if stack == "async" else "-w"
        assert argv[argv.index(flag) + 1] == "3"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("role", ROLES)
def test_the_bare_build_is_served_exactly_as_the_full_build(stack, role):
    settings = StackSettings()
    bare, full = service(stack, role, "bare"), service(stack, role, "full")
    argv = service_argv(bare, settings, "py")
    assert argv == server_argv(settings.variant(stack), bare.factory, "py")
    assert argv[:-1] == service_argv(full, settings, "py")[:-1]  # the reference's config and worker class
    assert argv[-1] == f"benchmark.ladder.{bare.kind}_bare_{stack}:create_app()"


def test_the_bare_build_follows_the_stacks_server_variant():
    settings = StackSettings(sync_worker_class="gevent", async_server="granian")
    assert "server_variants.gevent_worker.GeventWorker" in service_argv(service("sync", "scoring", "bare"), settings)
    assert "server_variants.granian_serve" in service_argv(service("async", "scoring", "bare"), settings)


@pytest.mark.parametrize("build", ["people", "bare"])
@pytest.mark.parametrize("stack", STACKS)
def test_each_ladder_service_names_a_factory_that_exists(build, stack):
    for svc in stack_services(stack, build):
        assert svc.name == f"{build}-{stack}-{svc.role.replace('_', '-')}"
        module, function = svc.factory.split(":")
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("build", ["people", "bare"])
@pytest.mark.parametrize("stack", STACKS)
def test_a_ladder_stack_has_no_edge_and_reads_what_the_reference_reads(build, stack, monkeypatch):
    monkeypatch.delenv("SERVER_WORKERS", raising=False)
    settings = StackSettings(edge=True)
    model_a, scoring, model_b = (service_env(service(stack, role, build), settings) for role in ROLES)
    svc = service(stack, "scoring", build)
    assert svc.url(settings) == svc.direct_url(settings)
    assert scoring["SERVER_PORT"] == str(settings.port(stack, "scoring"))  # no edge: the public port
    assert "SERVER_TRUST_REQUEST_START" not in scoring
    assert Supervisor(settings, stack_services(stack, build)).edges() == []
    models = [service(stack, m, build).predict_url(settings) for m in ("model_a", "model_b")]
    assert json.loads(scoring["SCORING_MODEL_URLS"]) == models
    assert scoring["REDIS_URL"] == settings.effective_redis_url()
    assert (model_a["MODEL_NAME"], model_b["MODEL_NAME"]) == ("model_a", "model_b")
    full = service_env(service(stack, "model_a"), settings)
    workers = settings_of(ServiceSettings, model_a).worker_count()
    # The bare models run as the full build's (one process where a worker serves many at once); people's, one per core.
    assert workers == (settings_of(ServiceSettings, full).worker_count() if build == "bare" else cores())


def test_a_ladder_stack_has_no_job_mode():
    with (
        pytest.raises(ValueError, match="a people stack has no job mode"),
        running_stack("async", build="people", job_workers=1),
    ):
        pass


def ask_async(app, method: str, path: str, body: dict | None = None) -> httpx.Response:
    """One request to an ASGI app in this process."""

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ladder") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(ask())


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setenv("MODEL_WAIT_MIN_MS", "0")
    monkeypatch.setenv("MODEL_WAIT_MAX_MS", "0")
    monkeypatch.setenv("MODEL_NAME", "model_a")


@pytest.mark.parametrize("build", ["people", "bare"])
def test_the_ladders_async_model_apps_answer_the_references_bytes(build, no_wait):
    module = importlib.reload(importlib.import_module(f"benchmark.ladder.model_{build}_async"))
    answer = ask_async(module.create_app(), "POST", predict_path("async"), VECTOR)
    assert (answer.status_code, answer.content) == (200, ANSWER)
    assert "x-request-id" not in answer.headers
    assert "server-timing" not in answer.headers


@pytest.mark.parametrize("build", ["people", "bare"])
def test_the_ladders_sync_model_apps_answer_the_references_bytes(build, no_wait):
    module = importlib.reload(importlib.import_module(f"benchmark.ladder.model_{build}_sync"))
    answer = module.create_app().test_client().post(predict_path("sync"), json=VECTOR)
    assert (answer.status_code, answer.data) == (200, ANSWER)
    assert "X-Request-ID" not in answer.headers
    assert "Server-Timing" not in answer.headers


def test_the_bare_apps_keep_the_one_error_shape_and_serve_no_metrics(no_wait):
    from benchmark.ladder import model_bare_async, model_bare_sync

    sync = model_bare_sync.create_app().test_client()
    refused = ask_async(model_bare_async.create_app(), "POST", predict_path("async"), {"features": [1]})
    message = "features: List should have at least 4 items after validation, not 1"
    invalid = {"status": 422, "error": "invalid_input", "message": message, "field": "features"}
    assert (refused.status_code, refused.json()) == (422, invalid)
    refused = sync.post(predict_path("sync"), json={"features": [1]})
    assert (refused.status_code, refused.get_json()) == (422, invalid)
    not_found = {"status": 404, "error": "not_found", "message": "Nothing matches the given URI"}
    assert ask_async(model_bare_async.create_app(), "GET", METRICS_PATH).json() == not_found
    assert sync.get(METRICS_PATH).get_json() == not_found
    assert ask_async(model_bare_async.create_app(), "GET", HEALTH_PATH).json() == {"status": "OK"}
    assert sync.get(HEALTH_PATH).get_json() == {"status": "OK"}
