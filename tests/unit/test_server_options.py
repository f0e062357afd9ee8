"""The server variants' commands and options: what serves which app, and Granian's options from ``SERVER_*``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from granian.constants import HTTPModes, Interfaces, Loops

from benchmark.settings import load_settings
from reference.settings import ServiceSettings
from server_variants import VARIANTS, MeinheldMissing, interface_of, server_argv, server_env, worker_class
from server_variants.granian_serve import granian_options

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ["-c", "python:reference.gunicorn_conf"]


@pytest.mark.parametrize(
    ("variant", "factory", "argv"),
    [
        ("uvicorn", "apps.scoring_async:create_app",
         ["py", "-m", "gunicorn", *CONFIG, "-k", "reference.web_async.UvicornWorker",
          "apps.scoring_async:create_app()"]),
        ("gthread", "apps.scoring_sync:create_app",
         ["py", "-m", "gunicorn", *CONFIG, "-k", "gthread", "apps.scoring_sync:create_app()"]),
        ("gevent", "apps.model_sync:create_app",
         ["py", "-m", "gunicorn", *CONFIG, "-k", "server_variants.gevent_worker.GeventWorker",
          "apps.model_sync:create_app()"]),
        ("sync", "apps.scoring_sync:create_app",
         ["py", "-m", "gunicorn", *CONFIG, "-k", "sync", "apps.scoring_sync:create_app()"]),
        ("granian", "apps.scoring_async:create_app",
         ["py", "-m", "server_variants.granian_serve", "--interface", "asgi", "apps.scoring_async:create_app"]),
        ("granian", "reference.model_sync:create_app",
         ["py", "-m", "server_variants.granian_serve", "--interface", "wsgi", "reference.model_sync:create_app"]),
    ],
)  # fmt: skip
def test_each_variant_serves_a_factory_with_its_command(variant, factory, argv):
    assert server_argv(variant, factory, "py") == argv


def test_the_python_defaults_to_the_one_on_path():
    assert server_argv("gthread", "apps.scoring_sync:create_app")[0] == "python"


@pytest.mark.parametrize(
    ("variant", "factory"),
    [("uvicorn", "apps.scoring_sync:create_app"), ("gthread", "apps.scoring_async:create_app"),
     ("gevent", "apps.model_async:create_app"), ("sync", "apps.model_async:create_app")],
)  # fmt: skip
def test_a_variant_refuses_an_app_of_the_other_interface(variant, factory):
    with pytest.raises(ValueError, match=f"{variant} does not serve {factory}"):
        server_argv(variant, factory)


def test_an_unknown_variant_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown server variant 'tornado': choose one of uvicorn, gthread"):
        server_argv("tornado", "apps.scoring_sync:create_app")
    with pytest.raises(ValueError, match="'granian' is not a gunicorn variant"):
        worker_class("granian")


def test_the_interface_follows_the_modules_name():
    assert interface_of("apps.scoring_async:create_app") == "asgi"
    assert interface_of("benchmark.minimal.model_sync:create_app") == "wsgi"
    with pytest.raises(ValueError, match="cannot tell an ASGI app from a WSGI one"):
        interface_of("apps.settings:create_app")


def test_every_variant_serves_the_async_or_the_sync_apps_or_both():
    assert {v: sorted(i) for v, i in VARIANTS.items()} == {
        "uvicorn": ["asgi"], "gthread": ["wsgi"], "gevent": ["wsgi"], "sync": ["wsgi"], "meinheld": ["wsgi"],
        "granian": ["asgi", "wsgi"],
    }  # fmt: skip


def test_workers_that_serve_one_request_at_a_time_run_one_thread():
    # gunicorn would run a sync worker with more threads as gthread, and the app would admit that many requests.
    assert server_env("sync") == server_env("meinheld") == {"SERVER_THREADS": "1"}
    assert server_env("gevent") == server_env("granian") == server_env("gthread") == {}


def test_meinheld_fails_fast_saying_how_to_install_it_or_is_served():
    if importlib.util.find_spec("meinheld") is None:
        with pytest.raises(MeinheldMissing, match=r"run `make meinheld` first"):
            worker_class("meinheld")
        with pytest.raises(MeinheldMissing, match=r"run `make meinheld` first"):
            server_argv("meinheld", "apps.scoring_sync:create_app")
    else:
        assert worker_class("meinheld") == "meinheld.gmeinheld.MeinheldWorker"


def test_granian_wsgi_gets_the_gthread_workers_settings():
    settings = ServiceSettings(host="0.0.0.0", port=5001, workers=2, threads=64, backlog=4096, keepalive_s=5,
                               graceful_timeout_s=10, log_level="warning")  # fmt: skip
    options = granian_options(settings, "wsgi")
    assert (options["address"], options["port"], options["interface"]) == ("0.0.0.0", 5001, Interfaces.WSGI)
    assert (options["workers"], options["blocking_threads"], options["backlog"]) == (2, 64, 4096)
    assert (options["http"], options["websockets"]) == (HTTPModes.http1, False)
    http1 = options["http1_settings"]
    assert (http1.header_read_timeout, http1.keep_alive) == (5000, True)
    assert options["workers_kill_timeout"] == 10
    assert (options["log_level"], options["log_access"]) == ("warning", False)
    assert options["respawn_failed_workers"] is True


def test_granian_asgi_runs_one_event_loop_thread_per_worker_on_uvloop():
    options = granian_options(ServiceSettings(workers=3, threads=64), "asgi")
    assert (options["interface"], options["workers"], options["blocking_threads"]) == (Interfaces.ASGI, 3, 1)
    assert options["loop"] == Loops.uvloop


def test_granian_keep_alive_stays_within_the_range_granian_takes():
    assert granian_options(ServiceSettings(keepalive_s=600), "asgi")["http1_settings"].header_read_timeout == 60_000


def test_granian_serve_refuses_an_app_whose_interface_it_cannot_tell():
    result = subprocess.run([sys.executable, "-m", "server_variants.granian_serve", "apps.settings:create_app"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 2
    assert "cannot tell an ASGI app from a WSGI one" in result.stderr


# What a gunicorn master holds before it forks a gevent worker, which monkey-patches first thing, then loads the app.
MASTER = """
import json, shutil, sys, warnings
import gunicorn.app.wsgiapp, gunicorn.arbiter
import reference.gunicorn_conf as conf
from gunicorn.util import load_class
load_class(sys.argv[1])
shutil.rmtree(conf.metrics_dir)
loaded = sorted(sys.modules)
from gevent import monkey
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    monkey.patch_all()
print(json.dumps({"modules": loaded, "warnings": [str(w.message) for w in caught]}))
"""
# Modules that must be imported after the patch: the apps and their clients, gRPC, and the fan-out's thread pool (its
# module-level lock, created unpatched, would block the whole worker when a green thread switches inside it).
AFTER_THE_PATCH = ("apps", "reference.scoring_sync", "reference.model_sync", "reference.clients_sync", "flask",
                   "werkzeug", "redis", "urllib3", "requests", "grpc", "concurrent.futures.thread")  # fmt: skip


def test_a_gevent_master_imports_nothing_the_monkey_patch_must_precede():
    result = subprocess.run([sys.executable, "-c", MASTER, worker_class("gevent")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    master = json.loads(result.stdout.splitlines()[-1])
    early = [m for m in master["modules"] if any(m == p or m.startswith(p + ".") for p in AFTER_THE_PATCH)]
    assert early == []
    assert master["warnings"] == []  # gevent warns when ssl (or anything it patches) was bound before it


def test_the_sweep_skips_the_meinheld_variant_saying_why_when_it_is_not_installed(monkeypatch, tmp_path):
    from benchmark.experiments import sweep

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "meinheld" else object())
    said = []
    variant = {"name": "sync-meinheld", "stack": "sync", "env": {"STACK_SYNC_WORKER_CLASS": "meinheld"}}
    monkeypatch.setattr(sweep, "load_manifest", lambda *a, **k: [variant])
    results = sweep.run_sweep(load_settings(), tmp_path, say=said.append)
    assert results == [{"variant": "sync-meinheld", "skipped": "the meinheld variant needs meinheld, which is "
                        "opt-in: run `make meinheld` first"}]  # fmt: skip
    assert said == ["sweep 1/1: sync-meinheld SKIPPED: the meinheld variant needs meinheld, which is opt-in: run "
                    "`make meinheld` first"]  # fmt: skip
