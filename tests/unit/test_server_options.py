"""The server options of both stacks: Granian for either stack, gunicorn's gevent worker for the sync one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from granian.constants import HTTPModes, Interfaces, Loops
from pydantic import ValidationError

from service_runtime.core.server_settings import ServerSettings
from service_runtime.server.granian_serve import granian_options
from system_launcher.registry import GUNICORN_CONFIG, service, service_argv, service_env
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("choice", "stack", "worker_class", "program"),
    [
        ({}, "async", "uvicorn", "gunicorn"),
        ({}, "sync", "gthread", "gunicorn"),
        ({"async_server": "granian"}, "async", "granian-asgi", "service_runtime.server.granian_serve"),
        ({"sync_server": "granian"}, "sync", "granian-wsgi", "service_runtime.server.granian_serve"),
        ({"sync_worker_class": "gevent"}, "sync", "gevent", "gunicorn"),
    ],
)
def test_the_stack_setting_chooses_every_service_command_and_worker_class(choice, stack, worker_class, program):
    settings = StackSettings(**choice)
    for role in ("model_a", "scoring", "model_b"):
        svc = service(stack, role)
        argv = service_argv(svc, settings)
        assert argv[:3] == ["python", "-m", program]
        assert argv[3:] == ([svc.factory] if program != "gunicorn" else ["--config", GUNICORN_CONFIG, svc.app])
        assert service_env(svc, settings)["SERVER_WORKER_CLASS"] == worker_class
    other = "sync" if stack == "async" else "async"
    assert service_env(service(other, "scoring"), settings)["SERVER_WORKER_CLASS"] in {"uvicorn", "gthread"}


def test_granian_on_the_sync_stack_refuses_a_gunicorn_worker_class():
    with pytest.raises(ValidationError, match="STACK_SYNC_WORKER_CLASS=gevent"):
        StackSettings(sync_server="granian", sync_worker_class="gevent")


def test_the_launcher_offers_only_the_sync_stacks_worker_classes():
    with pytest.raises(ValidationError):
        StackSettings(sync_worker_class="uvicorn")


@pytest.mark.parametrize(
    ("choice", "stack", "model_env"),
    [
        ({"async_server": "granian"}, "async", {"SERVER_WORKERS": "1"}),  # one event loop, as uvicorn
        ({"sync_server": "granian"}, "sync", {"SERVER_WORKERS": "1", "SERVER_THREADS": "128"}),  # as gthread
        ({"sync_worker_class": "gevent"}, "sync", {"SERVER_WORKERS": "1"}),
    ],
)
def test_model_services_keep_the_default_servers_worker_and_thread_counts(choice, stack, model_env):
    settings = StackSettings(**choice)
    model = service_env(service(stack, "model_a"), settings)
    assert {k: v for k, v in model.items() if k in ("SERVER_WORKERS", "SERVER_THREADS")} == model_env
    assert "SERVER_WORKERS" not in service_env(service(stack, "scoring"), settings)  # the formula: one per core


@pytest.mark.parametrize(
    ("worker_class", "in_flight"),
    [("uvicorn", 256), ("granian-asgi", 256), ("gevent", 256), ("gthread", 64), ("granian-wsgi", 64), ("sync", 1)],
)
def test_in_flight_limit_follows_the_worker_each_server_stands_in_for(worker_class, in_flight):
    assert ServerSettings(worker_class=worker_class, threads=64).in_flight_limit() == in_flight


def test_granian_wsgi_gets_the_limits_of_the_gthread_worker():
    settings = ServerSettings(
        worker_class="granian-wsgi", host="0.0.0.0", port=5001, workers=2, threads=64, backlog=2048,
        max_connections=1000, header_timeout_s=5, keepalive_s=5, max_header_bytes=16_384, graceful_timeout_s=10,
    )  # fmt: skip
    options = granian_options(settings)
    assert (options["address"], options["port"], options["interface"]) == ("0.0.0.0", 5001, Interfaces.WSGI)
    assert (options["workers"], options["blocking_threads"]) == (2, 64)
    assert (options["backlog"], options["backpressure"]) == (2048, 1000)
    assert options["http"] == HTTPModes.http1
    http1 = options["http1_settings"]
    assert (http1.header_read_timeout, http1.keep_alive, http1.max_buffer_size) == (5000, True, 16_384)
    assert options["workers_kill_timeout"] == 10
    assert options["factory"] is True
    assert options["respawn_failed_workers"] is True
    assert options["log_access"] is False


def test_granian_asgi_runs_one_event_loop_thread_per_worker_on_uvloop():
    options = granian_options(ServerSettings(worker_class="granian-asgi", workers=2, threads=64))
    assert (options["interface"], options["blocking_threads"], options["loop"]) == (Interfaces.ASGI, 1, Loops.uvloop)


def test_granian_idle_keep_alive_and_head_share_the_shorter_timeout():
    options = granian_options(ServerSettings(worker_class="granian-asgi", header_timeout_s=5, keepalive_s=2))
    assert options["http1_settings"].header_read_timeout == 2000
    options = granian_options(ServerSettings(worker_class="granian-asgi", max_header_bytes=1024))
    assert options["http1_settings"].max_buffer_size == 8192  # Granian's smallest buffer


def test_granian_options_refuse_a_gunicorn_worker_class():
    with pytest.raises(ValueError, match="not served by Granian"):
        granian_options(ServerSettings(worker_class="gthread"))


# What a gunicorn master holds before it forks a gevent worker, which monkey-patches first thing, then loads the app.
MASTER = """
import json, sys, warnings
import gunicorn.app.wsgiapp, gunicorn.arbiter
import service_runtime.server.gunicorn_conf as conf
from gunicorn.util import load_class
load_class(conf.worker_class)
conf.on_exit(None)
loaded = sorted(sys.modules)
from gevent import monkey
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    monkey.patch_all()
print(json.dumps({"modules": loaded, "warnings": [str(w.message) for w in caught],
                  "worker_class": conf.worker_class, "worker_connections": conf.worker_connections}))
"""
# Modules that must be imported after the patch: the app and its clients, and the fan-out's thread pool (its
# module-level lock, created unpatched, would block the whole worker when a green thread switches inside it).
AFTER_THE_PATCH = ("api_scoring", "api_model", "feature_store", "flask", "werkzeug", "redis", "urllib3", "requests",
                   "concurrent.futures.thread")  # fmt: skip


def test_a_gevent_master_imports_nothing_the_monkey_patch_must_precede():
    env = {"PATH": "/usr/bin:/bin", "SERVER_WORKER_CLASS": "gevent", "SERVER_MAX_CONNECTIONS": "1000"}
    result = subprocess.run([sys.executable, "-c", MASTER], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    master = json.loads(result.stdout.splitlines()[-1])
    assert master["worker_class"] == "service_runtime.server.worker_gevent.GeventDrainingWorker"
    assert master["worker_connections"] == 1000
    early = [m for m in master["modules"] if m in AFTER_THE_PATCH or m.split(".")[0] in AFTER_THE_PATCH]
    assert early == []
    assert master["warnings"] == []  # gevent warns when ssl (or anything it patches) was bound before it


def test_gunicorn_refuses_to_serve_a_granian_worker_class():
    env = {"PATH": "/usr/bin:/bin", "SERVER_WORKER_CLASS": "granian-wsgi"}
    result = subprocess.run([sys.executable, "-c", "import service_runtime.server.gunicorn_conf"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode != 0
    assert "served by Granian" in result.stderr
