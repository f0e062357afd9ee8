"""The launcher's pure policies: the restart backoff, and which user settings make up refuses."""

from __future__ import annotations

from system_launcher.backoff import RestartBackoff
from system_launcher.parent_death import die_with_parent
from system_launcher.registry import SERVICES, redis_argv, seed_env, service_env
from system_launcher.settings import StackSettings
from system_launcher.user_env import refusal_message, refused_settings, wiring_keys


def test_backoff_doubles_per_quick_death_up_to_its_cap():
    backoff = RestartBackoff(first_s=1, max_s=8, stable_s=60)
    assert [backoff.delay("redis", ran_s=0.5) for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.restarts("redis") == 6


def test_backoff_resets_after_a_stable_run_and_per_process():
    backoff = RestartBackoff(first_s=1, max_s=30, stable_s=60)
    backoff.delay("redis", ran_s=1)
    backoff.delay("redis", ran_s=1)
    assert backoff.delay("async-model-a", ran_s=1) == 1
    assert backoff.delay("redis", ran_s=61) == 1


def test_wiring_keys_are_what_connects_the_processes():
    keys = wiring_keys(StackSettings())
    assert {"SCORING_MODEL_URLS", "SCORING_MODEL_GRPC_TARGETS"} <= keys
    assert not {"SERVER_WORKERS", "REDIS_URL", "REDIS_PASSWORD"} & keys  # settings of their own, declared once


def test_user_wiring_settings_are_refused_by_name_from_any_source():
    settings = StackSettings()
    environ = {"SCORING_MODEL_URLS": '["http://a"]', "SERVER_WORKERS": "2", "PATH": "/bin"}
    dotenv = {"SCORING_MODEL_GRPC_TARGETS": None, "REDIS_URL": "redis://mine:6379/0"}
    refused = refused_settings(settings, environ, dotenv)
    assert refused == ['SCORING_MODEL_URLS=["http://a"]']
    assert "REDIS_URL" in refusal_message(refused)
    assert refused_settings(settings, {"PATH": "/bin"}) == []


def test_the_launchers_redis_password_reaches_redis_and_every_process_that_reads_it():
    settings = StackSettings(redis_password="hunter2")
    argv = redis_argv("redis-server", settings)
    assert argv[argv.index("--requirepass") + 1] == "hunter2"
    assert seed_env(settings)["REDIS_PASSWORD"] == "hunter2"
    for svc in SERVICES:
        env = service_env(svc, settings)
        assert ("REDIS_PASSWORD" in env) == ("REDIS_URL" in env)  # whoever reads Redis gets its password
    assert "hunter2" not in repr(settings)  # a SecretStr: never in a log line
    assert "--requirepass" not in redis_argv("redis-server", StackSettings())


def test_children_get_a_parent_death_signal_on_linux():
    assert callable(die_with_parent())


def test_the_launcher_never_loads_grpc_whose_fork_handlers_its_preexec_fn_would_run():
    import subprocess
    import sys

    # Everything the launcher imports, in a fresh interpreter: this test process has gRPC loaded by other tests.
    probe = ("import sys, system_launcher.up, system_launcher.supervisor, system_launcher.registry; "
             "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('grpc.')))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"
