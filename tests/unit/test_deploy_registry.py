"""The registry's container settings: per-service host names, the bind address, worker counts."""

from __future__ import annotations

import pytest

import service_runtime.core.server_settings
from deploygen.compose import compose_settings
from deploygen.containers import worker_count
from service_runtime.core.server_settings import ServerSettings
from system_launcher.registry import SERVICES, redis_argv, seed_env, service, service_env
from system_launcher.settings import StackSettings


def test_natively_every_process_binds_and_is_reached_on_the_loopback():
    settings = StackSettings()
    env = service_env(service("async", "scoring"), settings)
    assert env["SERVER_HOST"] == "127.0.0.1"
    assert env["SCORING_MODEL_A_URL"] == "http://127.0.0.1:8000/api/v1/ml/async/predict"
    assert env["SCORING_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert redis_argv("redis-server", settings)[1:3] == ["--bind", "127.0.0.1"]


def test_in_containers_each_process_is_reached_by_its_name_and_binds_every_interface():
    settings = StackSettings(bind_host="0.0.0.0", per_service_hosts=True)
    env = service_env(service("sync", "scoring"), settings)
    assert env["SERVER_HOST"] == "0.0.0.0"
    assert env["SCORING_MODEL_A_URL"] == "http://sync-model-a:5000/api/v1/ml/sync/predict"
    assert env["SCORING_MODEL_B_URL"] == "http://sync-model-b:5002/api/v1/ml/sync/predict"
    assert env["SCORING_REDIS_URL"] == seed_env(settings)["SEED_REDIS_URL"] == "redis://redis:6379/0"
    assert redis_argv("redis-server", settings)[1:3] == ["--bind", "0.0.0.0"]


def test_container_settings_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STACK_PER_SERVICE_HOSTS", "true")
    monkeypatch.setenv("STACK_BIND_HOST", "0.0.0.0")
    settings = StackSettings()
    assert service("async", "model_b").predict_url(settings) == "http://async-model-b:8002/api/v1/ml/async/predict"
    assert settings.bind_address() == "0.0.0.0"


def test_a_given_redis_url_still_wins():
    settings = StackSettings(per_service_hosts=True, redis_url="redis://elsewhere:6380/1")
    assert service_env(service("async", "scoring"), settings)["SCORING_REDIS_URL"] == "redis://elsewhere:6380/1"


def test_compose_settings_keep_the_native_ports():
    native, compose = StackSettings(), compose_settings()
    assert [native.port(s.stack, s.role) for s in SERVICES] == [compose.port(s.stack, s.role) for s in SERVICES]


@pytest.mark.parametrize(
    "worker_class", ["uvicorn", "gthread", "gevent", "sync", "meinheld", "granian-asgi", "granian-wsgi"]
)
@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_container_worker_count_is_the_server_formula_for_the_cpu_limit(monkeypatch, worker_class, cpus):
    monkeypatch.setattr(service_runtime.core.server_settings, "cpu_count", lambda: cpus)
    assert worker_count(worker_class, cpus) == ServerSettings(worker_class=worker_class).worker_count()


@pytest.mark.parametrize(
    ("worker_class", "model_env"),
    [
        ("gthread", {"SERVER_WORKERS": "1", "SERVER_THREADS": "128"}),
        ("gevent", {"SERVER_WORKERS": "1"}),  # green threads: one worker serves many requests
        ("sync", {}),  # one request per worker: the model keeps the worker formula
        ("meinheld", {}),
    ],
)
def test_on_one_host_a_model_service_runs_one_worker_where_a_worker_serves_many_requests(worker_class, model_env):
    settings = StackSettings(sync_worker_class=worker_class)
    model = service_env(service("sync", "model_a"), settings)
    assert {k: v for k, v in model.items() if k in ("SERVER_WORKERS", "SERVER_THREADS")} == model_env
    assert "SERVER_WORKERS" not in service_env(service("sync", "scoring"), settings)  # the formula: one per core
    assert service_env(service("async", "model_b"), settings)["SERVER_WORKERS"] == "1"
    assert "SERVER_WORKERS" not in service_env(service("async", "scoring"), settings)


def test_an_explicit_server_worker_count_applies_to_the_model_services_too(monkeypatch):
    monkeypatch.setenv("SERVER_WORKERS", "4")
    monkeypatch.setenv("SERVER_THREADS", "8")
    env = service_env(service("sync", "model_a"), StackSettings())
    assert (env["SERVER_WORKERS"], env["SERVER_THREADS"]) == ("4", "8")
    monkeypatch.setenv("STACK_MODEL_WORKERS", "2")  # the specific setting wins
    assert service_env(service("async", "model_a"), StackSettings())["SERVER_WORKERS"] == "2"
