"""Tracing is opt-in (reference/tracing.py): which variables turn it on, what a worker imports and does with it off and
on, and the edge's tracer in its configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploygen.edge_start import plan as container_plan
from reference import tracing
from system_launcher.edge import TRACES_CLUSTER, EdgeSettings, edge_config, find_envoy
from system_launcher.registry import edge_plan, edge_sampled_percent, edge_traces_url
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
OTEL = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _no_tracing_from_the_machine(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": ""}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": " Console , otlp "}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, []),
        # An endpoint alone does not turn tracing on: compose gives every service one, the profile's Jaeger.
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, []),
    ],
)
def test_tracing_is_on_only_when_otel_traces_exporter_names_an_exporter(environ, exporters):
    assert tracing.exporters(environ) == exporters
    assert tracing.enabled(environ) == bool(exporters)


def test_an_exporter_not_installed_here_is_refused_by_name():
    with pytest.raises(ValueError, match="zipkin"):
        tracing.exporters({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_the_otlp_endpoint_is_read_as_the_sdk_reads_it():
    assert tracing.otlp_endpoint({}) is None
    assert tracing.otlp_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == "http://c:4318/v1/traces"
    both = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x"}
    assert tracing.otlp_endpoint(both) == "http://t:1/x"


def test_the_edge_traces_only_over_otlp_with_an_endpoint_given():
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}
    assert edge_traces_url({"OTEL_TRACES_EXPORTER": "otlp"} | endpoint) == "http://jaeger:4318/v1/traces"
    assert edge_traces_url({"OTEL_TRACES_EXPORTER": "console"} | endpoint) is None  # Envoy prints no spans
    assert edge_traces_url({"OTEL_TRACES_EXPORTER": "otlp"}) is None
    assert edge_traces_url(endpoint) is None


@pytest.mark.parametrize(
    ("environ", "percent"),
    [
        ({}, 100.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, 100.0),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.05"}, 5.0),
        ({"OTEL_TRACES_SAMPLER": "traceidratio"}, 100.0),
        ({"OTEL_TRACES_SAMPLER": "always_off"}, 0.0),
    ],
)
def test_the_edge_samples_the_share_the_services_sampler_asks_for(environ, percent):
    # Through the edge its decision is the services' (parent-based): it samples as they would have.
    assert edge_sampled_percent(environ) == pytest.approx(percent)


def manager(config: dict) -> dict:
    return config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]


def test_without_tracing_the_edge_has_no_tracer():
    config = edge_config(edge_plan("async", StackSettings()), EdgeSettings())
    assert "tracing" not in manager(config)
    assert TRACES_CLUSTER not in {c["name"] for c in config["static_resources"]["clusters"]}


def test_with_tracing_the_edge_sends_its_spans_to_the_endpoints_host(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    config = edge_config(container_plan("compose", "sync"), EdgeSettings())
    assert manager(config)["tracing"]["random_sampling"] == {"value": 25.0}
    provider = manager(config)["tracing"]["provider"]
    assert provider["name"] == "envoy.tracers.opentelemetry"
    assert provider["typed_config"]["service_name"] == "sync-edge"
    assert provider["typed_config"]["http_service"]["http_uri"]["uri"] == "http://jaeger:4318/v1/traces"
    # Sampled at random, not by the X-Request-ID the edge does not generate.
    assert manager(config)["request_id_extension"]["typed_config"]["use_request_id_for_trace_sampling"] is False
    assert manager(config)["generate_request_id"] is False
    (traces,) = [c for c in config["static_resources"]["clusters"] if c["name"] == TRACES_CLUSTER]
    assert traces["type"] == "STRICT_DNS"
    address = traces["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address == {"address": "jaeger", "port_value": 4318}


def test_an_edge_with_tracing_is_accepted_by_envoy(monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    config = edge_config(edge_plan("async", StackSettings()), EdgeSettings())
    assert "tracing" in manager(config)
    path = tmp_path / "edge.json"
    path.write_text(json.dumps(config))
    result = subprocess.run([find_envoy(), "--mode", "validate", "-c", str(path)], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_edge_refuses_an_endpoint_it_cannot_reach_over_plain_http(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318")
    with pytest.raises(ValueError, match="plain http"):
        edge_config(edge_plan("async", StackSettings()), EdgeSettings())


# A worker as gunicorn runs one: its configuration's hooks around the app factory (post_fork, then post_worker_init),
# in a fresh interpreter; then which of OpenTelemetry's modules it loaded.
WORKER = """
import os, sys, types
import reference.gunicorn_conf as conf
conf.post_fork(types.SimpleNamespace(pid=os.getppid()), None)
import {module} as m
app = m.create_app()
conf.post_worker_init(types.SimpleNamespace(wsgi=app))
conf.on_exit(None)
print(sorted(n for n in sys.modules if n.startswith("opentelemetry")))
"""
# What the libraries a worker uses import of OpenTelemetry by themselves: FastAPI its API (its native hook), and
# redis-py, where the SDK is installed, the SDK's metrics (its own optional metrics, never set up here).
LIBRARIES = """
import sys
import {libraries}
print(sorted(n for n in sys.modules if n.startswith("opentelemetry")))
"""
TRACING_ONLY = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation", "opentelemetry.exporter")
APPS = ["reference.scoring_async", "reference.model_async", "reference.scoring_sync", "reference.model_sync"]


def run(probe: str, **env: str) -> set[str]:
    environ = {k: v for k, v in os.environ.items() if k not in OTEL} | env
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=environ)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1].replace("'", '"')))


def loaded(module: str, **env: str) -> set[str]:
    """OpenTelemetry's modules a worker serving ``module``'s app has loaded once it is ready to serve."""
    return run(WORKER.format(module=module), **env)


@pytest.mark.parametrize("module", APPS)
def test_a_worker_without_tracing_loads_nothing_of_opentelemetry_its_libraries_do_not(module):
    found = loaded(module)
    assert [m for m in found if m.startswith(TRACING_ONLY)] == []
    libraries = "fastapi, redis" if module.endswith("_async") else "flask, redis"
    assert found <= run(LIBRARIES.format(libraries=libraries))


@pytest.mark.parametrize("module", APPS)
def test_a_worker_with_tracing_sets_its_provider_up_and_instruments_its_app(module):
    found = loaded(module, OTEL_TRACES_EXPORTER="console")
    assert {"opentelemetry.sdk.trace", "opentelemetry.instrumentation.redis"} <= found
    client = "aiohttp_client" if module.endswith("_async") else "urllib3"
    assert f"opentelemetry.instrumentation.{client}" in found
    if module.endswith("_sync"):
        assert "opentelemetry.instrumentation.flask" in found


# FastAPI's own hook, driven through ASGI in a fresh interpreter: an app built where no tracer provider is set (a
# worker that does not trace) makes no span even once one is set later; one built after the provider does.
HOOK = """
import asyncio, json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from reference.api import predict_path
from reference.model_async import create_app

async def predict(app):
    body = json.dumps({"features": [5.1, 3.5, 1.4, 0.2]}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": predict_path("async"), "raw_path": predict_path("async").encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []
    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]["status"]

untraced = create_app()
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
traced = create_app()
status = asyncio.run(predict(untraced))
before = len(exporter.get_finished_spans())
status_traced = asyncio.run(predict(traced))
print(json.dumps([status, before, status_traced, [s.name for s in exporter.get_finished_spans()]]))
"""


def test_fastapis_own_hook_is_off_in_a_worker_that_does_not_trace_and_on_in_one_that_does():
    environ = {k: v for k, v in os.environ.items() if k not in OTEL} | {"MODEL_WAIT_MAX_MS": "0",
                                                                        "MODEL_WAIT_MIN_MS": "0"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", HOOK], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=environ)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    status, untraced_spans, status_traced, names = json.loads(result.stdout.splitlines()[-1])
    assert (status, status_traced) == (200, 200)
    assert untraced_spans == 0
    assert names == ["POST /api/v1/ml/async/predict"]  # its server span only: no span per dependency


COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_config(*profiles: str, **env: str) -> dict:
    """``docker compose config`` of the committed file (no image pulled: it only resolves the file)."""
    argv = ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE)]
    argv += [arg for profile in profiles for arg in ("--profile", profile)] + ["config", "--format", "json"]
    environ = {k: v for k, v in os.environ.items() if k not in OTEL} | env
    result = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_the_tracing_profile_runs_jaeger_and_every_service_and_edge_points_at_it():
    # The image cannot be pulled here: the profile is checked as a file, against the Compose Specification's schema
    # with the rest (test_deploy_compose.py), and here for what it says.
    import yaml

    from deploygen.jaeger import IMAGE, TRACING_ENV
    from system_launcher.registry import EDGES, SERVICES

    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    jaeger = services["jaeger"]
    assert jaeger["image"] == IMAGE
    assert IMAGE.startswith("jaegertracing/all-in-one:")
    assert jaeger["profiles"] == ["tracing"]
    assert "127.0.0.1:4318:4318" in jaeger["ports"]  # OTLP/HTTP: make up's processes may export to it too
    for name in [svc.name for svc in SERVICES] + [edge.name for edge in EDGES]:
        assert services[name]["environment"].items() >= TRACING_ENV.items(), name
        assert "jaeger" not in services[name].get("depends_on", {}), name  # up with or without the profile


def _compose_client() -> bool:
    if shutil.which("docker") is None:
        return False
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=False)
    return version.returncode == 0


@pytest.mark.skipif(not _compose_client(), reason="no docker compose client here; the schema test is the one that runs")
def test_compose_turns_tracing_on_only_when_asked_and_sends_it_to_jaeger():
    off = compose_config()
    assert "jaeger" not in off
    assert off["async-scoring"]["environment"]["OTEL_TRACES_EXPORTER"] == "none"
    on = compose_config("tracing", OTEL_TRACES_EXPORTER="otlp")
    assert "jaeger" in on
    for name in ("async-scoring", "sync-model-a", "async-edge", "sync-edge"):
        env = on[name]["environment"]
        assert (env["OTEL_TRACES_EXPORTER"], env["OTEL_EXPORTER_OTLP_ENDPOINT"]) == ("otlp", "http://jaeger:4318")
        assert tracing.enabled(env)
    assert edge_traces_url(on["async-edge"]["environment"]) == "http://jaeger:4318/v1/traces"
