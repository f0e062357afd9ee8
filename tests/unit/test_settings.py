"""Settings, each declared once, and the registry's commands and environments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference.settings import ModelSettings, ScoringSettings, ServiceSettings, cores
from system_launcher.registry import SERVICES, seed_argv, service, service_argv, service_env
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_per_core_unless_set(monkeypatch):
    assert ServiceSettings().worker_count() == cores()
    monkeypatch.setenv("SERVER_WORKERS", "7")
    assert ServiceSettings().worker_count() == 7
    monkeypatch.setenv("SERVER_WORKERS", "")  # NAME= means the default
    assert ServiceSettings().workers is None


def test_in_flight_defaults_by_stack():
    assert ServiceSettings().in_flight_limit("async") == 256
    assert ServiceSettings(threads=12).in_flight_limit("sync") == 12
    assert ServiceSettings(max_in_flight=3).in_flight_limit("async") == 3


def test_redis_is_one_setting_for_every_class(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://example:1/0")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    assert ScoringSettings().redis_url == "redis://example:1/0"
    assert ScoringSettings().redis_password_value() == "pw"
    monkeypatch.setenv("SCORING_REDIS_URL", "redis://other:2/0")  # not a setting: ignored
    assert ScoringSettings().redis_url == "redis://example:1/0"
    assert StackSettings().effective_redis_url() == "redis://example:1/0"
    assert not StackSettings().starts_redis()


def test_the_clients_keep_alive_is_derived_below_the_servers():
    settings = ServiceSettings(keepalive_s=5)
    assert settings.client_keepalive_s() < settings.keepalive_s


def test_scoring_defaults_to_its_own_stacks_models():
    models = ScoringSettings().models("async")
    assert models == {"model_a": "http://127.0.0.1:8000/api/v1/ml/async/predict",
                      "model_b": "http://127.0.0.1:8002/api/v1/ml/async/predict"}  # fmt: skip
    four = ScoringSettings(model_urls=[f"http://m{i}/p" for i in range(4)]).models("sync")
    assert list(four) == ["model_a", "model_b", "model_c", "model_d"]
    assert ModelSettings().model == "model_a"


def test_registry_has_the_six_services_on_their_ports():
    settings = StackSettings()
    ports = {svc.name: settings.port(svc.stack, svc.role) for svc in SERVICES}
    assert ports == {"async-model-a": 8000, "async-scoring": 8001, "async-model-b": 8002, "sync-model-a": 5000,
                     "sync-scoring": 5001, "sync-model-b": 5002}  # fmt: skip


@pytest.mark.parametrize(("variant", "worker"), [("gthread", "gthread"), ("sync", "sync"),
                                                 ("gevent", "server_variants.gevent_worker.GeventWorker")])  # fmt: skip
def test_every_service_is_gunicorn_with_the_references_configuration(variant, worker):
    settings = StackSettings(sync_worker_class=variant)
    for svc in SERVICES:
        argv = service_argv(svc, settings)
        assert argv[:5] == ["python", "-m", "gunicorn", "-c", "python:reference.gunicorn_conf"]
        assert argv[5:] == ["-k", "reference.web_async.UvicornWorker" if svc.stack == "async" else worker,
                            f"apps.{svc.kind}_{svc.stack}:create_app()"]  # fmt: skip
    assert seed_argv() == ["python", "-m", "feature_store.seed"]


def test_granian_serves_the_same_apps():
    argv = service_argv(service("sync", "scoring"), StackSettings(sync_server="granian"))
    assert argv[:3] == ["python", "-m", "server_variants.granian_serve"]
    assert argv[-1] == "apps.scoring_sync:create_app"


def test_scoring_env_points_at_its_own_stack():
    settings = StackSettings()
    env = service_env(service("sync", "scoring"), settings)
    assert json.loads(env["SCORING_MODEL_URLS"]) == ["http://127.0.0.1:5000/api/v1/ml/sync/predict",
                                                     "http://127.0.0.1:5002/api/v1/ml/sync/predict"]  # fmt: skip
    assert json.loads(env["SCORING_MODEL_GRPC_TARGETS"]) == ["127.0.0.1:5100", "127.0.0.1:5102"]
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert env["SERVER_TRUST_REQUEST_START"] == "true"  # behind the edge
    assert service_env(service("async", "model_b"), settings)["MODEL_NAME"] == "model_b"


def test_gunicorn_builds_no_access_log_fields_per_request():
    # In a process of its own: importing the configuration sets up a service (its metrics directory).
    probe = ("import shutil, reference.gunicorn_conf as c; from gunicorn.config import Config; cfg = Config(); "
             "cfg.set('logconfig_dict', {'version': 1}); print(c.logger_class is c.Logger, "
             "c.Logger(cfg).access(None, None, None, None)); shutil.rmtree(c.metrics_dir)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    # gunicorn's own Logger would read the response and the request here; this one touches nothing.
    assert result.stdout.split() == ["True", "None"], result.stderr
