"""Settings, the worker formula and the service registry (the settings files: test_settings_files.py)."""

from pathlib import Path

import pytest

from api_scoring.settings import ScoringSettings
from service_runtime.core.server_settings import ServerSettings, cpu_count
from system_launcher.registry import SERVICES, seed_argv, service, service_argv, service_env
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("worker_class", "workers", "per_worker"),
    [("uvicorn", 1, 1), ("gthread", 1, 64), ("sync", 2, 1), ("meinheld", 1, 1)],
)
def test_worker_formula(worker_class, workers, per_worker):
    settings = ServerSettings(worker_class=worker_class)
    cores = cpu_count()
    expected = 2 * cores + 1 if worker_class == "sync" else cores
    assert settings.worker_count() == expected
    assert settings.concurrency_per_worker() == per_worker


def test_worker_count_is_overridable_by_environment(monkeypatch):
    monkeypatch.setenv("SERVER_WORKERS", "7")
    assert ServerSettings().worker_count() == 7


def test_empty_variables_mean_default(monkeypatch):
    monkeypatch.setenv("SERVER_WORKERS", "")
    assert ServerSettings().workers is None


def test_redis_url_alias(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://example:1/0")
    assert ScoringSettings().redis_url == "redis://example:1/0"
    monkeypatch.setenv("SCORING_REDIS_URL", "redis://other:2/0")
    assert ScoringSettings().redis_url == "redis://other:2/0"


def test_scoring_defaults_to_its_own_stacks_models():
    settings = ScoringSettings()
    assert settings.model_url("model_a", "async") == "http://127.0.0.1:8000/api/v1/ml/async/predict"
    assert settings.model_url("model_b", "sync") == "http://127.0.0.1:5002/api/v1/ml/sync/predict"


def test_registry_has_the_six_services_on_the_original_ports():
    settings = StackSettings()
    ports = {svc.name: settings.port(svc.stack, svc.role) for svc in SERVICES}
    assert ports == {
        "async-model-a": 8000,
        "async-scoring": 8001,
        "async-model-b": 8002,
        "sync-model-a": 5000,
        "sync-scoring": 5001,
        "sync-model-b": 5002,
    }


def test_service_commands_share_one_gunicorn_config():
    for svc in SERVICES:
        argv = service_argv(svc, StackSettings())
        assert argv[:5] == ["python", "-m", "gunicorn", "--config", "python:service_runtime.server.gunicorn_conf"]
        assert argv[5] == svc.app
    assert seed_argv() == ["python", "-m", "feature_store.seed"]


def test_scoring_env_points_at_its_own_stack():
    settings = StackSettings(sync_worker_class="meinheld")
    env = service_env(service("sync", "scoring"), settings)
    assert env["SERVER_WORKER_CLASS"] == "meinheld"
    assert env["SCORING_MODEL_A_URL"] == "http://127.0.0.1:5000/api/v1/ml/sync/predict"
    assert env["SCORING_MODEL_B_URL"] == "http://127.0.0.1:5002/api/v1/ml/sync/predict"
    assert env["SCORING_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert service_env(service("async", "model_b"), settings)["SERVER_WORKER_CLASS"] == "uvicorn"
    assert service_env(service("async", "model_b"), settings)["MODEL_NAME"] == "model_b"


def test_gunicorn_builds_no_access_log_fields_per_request():
    import ast
    from pathlib import Path

    from gunicorn.config import Config

    from service_runtime.server.logger import ServiceLogger

    # Read, not imported: importing the config module sets up a service (metrics directory, limits).
    source = Path("service_runtime/server/gunicorn_conf.py").read_text()
    assigned = {node.targets[0].id: node.value for node in ast.parse(source).body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}  # fmt: skip
    assert ast.literal_eval(assigned["logger_class"]) == f"{ServiceLogger.__module__}.{ServiceLogger.__name__}"
    config = Config()
    config.set("logconfig_dict", {"version": 1})
    # gunicorn's own Logger would read the response and the request here; this one touches nothing.
    assert ServiceLogger(config).access(None, None, None, None) is None
