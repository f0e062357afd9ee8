"""The registry on each platform: per-service host names, the bind address, worker counts, and settings that never
come from the machine that generates the files."""

from __future__ import annotations

import json

import pytest

from deploygen.containers import SERVICE_LIMITS, container_env
from deploygen.platforms import K8S_PORT, K8S_REDIS_PASSWORD_REF, compose_settings, k8s_settings
from system_launcher.registry import SERVICES, redis_argv, seed_env, service, service_env
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS


def test_natively_every_process_binds_and_is_reached_on_the_loopback():
    settings = StackSettings()
    env = service_env(service("async", "scoring"), settings)
    assert env["SERVER_HOST"] == "127.0.0.1"
    assert json.loads(env["SCORING_MODEL_URLS"])[0] == "http://127.0.0.1:8000/api/v1/ml/async/predict"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert redis_argv("redis-server", settings)[1:3] == ["--bind", "127.0.0.1"]


def test_in_compose_each_process_is_reached_by_its_name_and_binds_every_interface():
    settings = compose_settings()
    env = service_env(service("sync", "scoring"), settings)
    assert env["SERVER_HOST"] == "0.0.0.0"
    assert json.loads(env["SCORING_MODEL_URLS"]) == [
        "http://sync-model-a:5000/api/v1/ml/sync/predict",
        "http://sync-model-b:5002/api/v1/ml/sync/predict",
    ]
    assert json.loads(env["SCORING_MODEL_GRPC_TARGETS"]) == ["sync-model-a:5100", "sync-model-b:5102"]
    assert env["REDIS_URL"] == seed_env(settings)["REDIS_URL"] == "redis://redis:6379/0"
    assert "REDIS_PASSWORD" not in env  # compose's clients read it from the redis-auth volume
    assert redis_argv("redis-server", settings)[1:3] == ["--bind", "0.0.0.0"]


def test_compose_keeps_the_native_ports():
    native, compose = StackSettings(), compose_settings()
    for svc in SERVICES:
        assert native.port(svc.stack, svc.role) == compose.port(svc.stack, svc.role)
        assert native.listen_port(svc.stack, svc.role) == compose.listen_port(svc.stack, svc.role)


@pytest.mark.parametrize("stack", STACKS)
def test_in_kubernetes_every_service_is_its_stacks_on_one_port_with_the_secrets_password(stack):
    settings = k8s_settings(stack)
    for svc in SERVICES:
        assert svc.listen_port(settings) == K8S_PORT
    env = service_env(service(stack, "scoring"), settings)
    assert env["REDIS_URL"] == f"redis://{stack}-redis:6379/0"
    assert env["REDIS_PASSWORD"] == K8S_REDIS_PASSWORD_REF
    assert redis_argv("redis-server", settings)[-2:] == ["--requirepass", K8S_REDIS_PASSWORD_REF]


def test_platform_settings_never_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("STACK_JOB_WORKERS", "7")
    monkeypatch.setenv("STACK_ASYNC_MODEL_A_PORT", "9999")
    monkeypatch.setenv("STACK_MODEL_WORKERS", "3")
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:1/0")
    assert StackSettings().job_workers == 7  # what make up reads
    for settings in (compose_settings(), k8s_settings("async")):
        assert settings.job_workers == StackSettings.model_fields["job_workers"].default
        assert settings.model_workers == 1
        assert "elsewhere" not in settings.effective_redis_url()
    assert compose_settings().port("async", "model_a") == 8000


def test_a_given_redis_url_still_wins_natively():
    settings = StackSettings(per_service_hosts=True, redis_url="redis://elsewhere:6380/1")
    assert service_env(service("async", "scoring"), settings)["REDIS_URL"] == "redis://elsewhere:6380/1"


@pytest.mark.parametrize("settings", [compose_settings(), k8s_settings("sync")], ids=["compose", "kubernetes"])
def test_a_container_runs_as_many_workers_as_its_cpu_limit_unless_the_registry_says(settings):
    for svc in SERVICES:
        env, registry = container_env(svc, settings), service_env(svc, settings)
        # A model service keeps the registry's count (one worker serves many requests); scoring gets the limit's.
        assert env["SERVER_WORKERS"] == registry.get("SERVER_WORKERS", str(SERVICE_LIMITS.cpus))
        assert {k: v for k, v in env.items() if k != "SERVER_WORKERS"} == {
            k: v for k, v in registry.items() if k != "SERVER_WORKERS"
        }


@pytest.mark.parametrize(
    ("worker_class", "model_workers"),
    [
        ("gthread", {"SERVER_WORKERS": "1", "SERVER_THREADS": "128"}),
        ("gevent", {"SERVER_WORKERS": "1", "SERVER_THREADS": "128"}),  # green threads: one worker serves many
        ("sync", None),  # one request per worker: the model keeps one worker per core
        ("meinheld", None),
    ],
)
def test_on_one_host_a_model_service_runs_one_worker_where_a_worker_serves_many_requests(worker_class, model_workers):
    settings = StackSettings(sync_worker_class=worker_class)
    model = service_env(service("sync", "model_a"), settings)
    if model_workers is None:
        assert "SERVER_WORKERS" not in model
    else:
        assert {k: v for k, v in model.items() if k in ("SERVER_WORKERS", "SERVER_THREADS")} == model_workers
    assert "SERVER_WORKERS" not in service_env(service("sync", "scoring"), settings)  # one per core
    assert service_env(service("async", "model_b"), settings)["SERVER_WORKERS"] == "1"
    assert "SERVER_WORKERS" not in service_env(service("async", "scoring"), settings)


def test_an_explicit_server_worker_count_applies_to_the_model_services_too(monkeypatch):
    monkeypatch.setenv("SERVER_WORKERS", "4")
    monkeypatch.setenv("SERVER_THREADS", "8")
    env = service_env(service("sync", "model_a"), StackSettings())
    assert (env["SERVER_WORKERS"], env["SERVER_THREADS"]) == ("4", "8")
    monkeypatch.setenv("STACK_MODEL_WORKERS", "2")  # the specific setting wins
    assert service_env(service("async", "model_a"), StackSettings())["SERVER_WORKERS"] == "2"
