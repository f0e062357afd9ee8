"""Granian serving one app factory of either stack, configured from the reference's ``ServiceSettings`` (``SERVER_*``).

``python -m server_variants.granian_serve apps.scoring_async:create_app`` serves an async app as ASGI (with its
lifespan, one event loop per worker), ``apps.scoring_sync:create_app`` a sync app as WSGI (``SERVER_THREADS``
blocking threads per worker). As under gunicorn, every worker is a process of its own that calls the factory once
it has started, so each builds its own clients; the logs and the Prometheus directory are the reference's
gunicorn configuration's, and with tracing on each worker sets its tracer provider up and instruments its app as
gunicorn's hooks do (``reference.tracing``). What Granian has no option or hook for: a silent worker is not restarted
(``SERVER_TIMEOUT_S``); a dead worker's live gauges stay in the metrics directory until the service stops; and a
WSGI worker leaves through ``os._exit`` (multiprocessing), so the sync apps' ``atexit`` hooks do not run there: the
system closes their connections.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import importlib
import os
import shutil
import signal
import sys
from functools import partial
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from reference import tracing
from reference.settings import ServiceSettings
from server_variants.commands import Interface, interface_of

# The range Granian accepts for its header read timeout, in milliseconds.
HEADER_TIMEOUT_MS = (1, 60_000)
PR_SET_PDEATHSIG = 1


def granian_options(settings: ServiceSettings, interface: Interface) -> dict[str, Any]:
    """Granian's arguments for the service ``settings`` describe: the gunicorn workers' settings where Granian has
    the option."""
    wsgi = interface == "wsgi"
    # hyper's header read timeout also ends an idle keep-alive connection: SERVER_KEEPALIVE_S is that timer.
    keepalive_ms = min(max(settings.keepalive_s * 1000, HEADER_TIMEOUT_MS[0]), HEADER_TIMEOUT_MS[1])
    return {
        "address": settings.host,
        "port": settings.port,
        "interface": Interfaces.WSGI if wsgi else Interfaces.ASGI,  # ASGI: with the app's lifespan
        "workers": settings.worker_count(),
        # WSGI: as many threads as a gthread worker has; ASGI: the event loop's one (Granian allows no more).
        "blocking_threads": settings.threads if wsgi else 1,
        "loop": Loops.auto if wsgi else Loops.uvloop,  # ASGI: the loop the uvicorn workers run
        "http": HTTPModes.http1,  # HTTP/1.1 only, as gunicorn and uvicorn serve here
        "websockets": False,
        "backlog": settings.backlog,
        "http1_settings": HTTP1Settings(header_read_timeout=keepalive_ms, keep_alive=True),
        "log_level": LogLevels(settings.log_level.lower()),
        "log_access": False,  # the apps log requests themselves (ACCESS_LOG), as JSON with the request id
        "respawn_failed_workers": True,  # as gunicorn's arbiter replaces a worker that died
        "workers_kill_timeout": settings.graceful_timeout_s,
    }


def serve(factory: str, interface: Interface) -> None:
    """Serve ``module:function`` with Granian until SIGINT or SIGTERM."""
    # The reference's gunicorn configuration, imported only to serve: its JSON logging, and the service's fresh
    # Prometheus directory, exported before the workers start.
    from reference import gunicorn_conf

    options = granian_options(gunicorn_conf.settings, interface)
    options["log_dictconfig"] = copy.deepcopy(gunicorn_conf.logconfig_dict)  # Granian edits the one it is given
    try:
        Server(factory, **options).serve(target_loader=partial(load_in_worker, master_pid=os.getpid()))
    finally:
        shutil.rmtree(gunicorn_conf.metrics_dir, ignore_errors=True)


def load_in_worker(factory: str, master_pid: int) -> Any:
    """In each worker, before the app is built: die with the master, set tracing up (when on), then call the factory
    and instrument what it built."""
    # The worker inherits the master's handlers with the fork, which would swallow the master's SIGTERM (its stop)
    # until Granian installs the worker's own once the app is built: until then, SIGTERM or SIGINT ends the worker.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    die_with_parent(master_pid)
    traced = tracing.enabled()
    if traced:
        tracing.start(ServiceSettings().name)
    module, _, function = factory.partition(":")
    app = getattr(importlib.import_module(module), function)()
    if traced:
        tracing.instrument(app)
    return app


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies: a worker of a SIGKILLed Granian would keep serving on the port.

    Not a graceful SIGTERM: Granian's master is what bounds a worker's graceful stop (``workers_kill_timeout``), and
    a stop signalled while the worker is still starting is not always seen once it serves.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    """The command line: the app factory, and its interface when its module's name does not say it."""
    parser = argparse.ArgumentParser(
        prog="python -m server_variants.granian_serve",
        description="Serve an app factory with Granian, configured from SERVER_* (the reference's ServiceSettings).",
    )
    parser.add_argument("factory", help="the app factory as module:function, called once in each worker")
    parser.add_argument("--interface", choices=["asgi", "wsgi"],
                        help="ASGI or WSGI (default: asgi for a module named *_async, wsgi for *_sync)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        interface = args.interface or interface_of(args.factory)
    except ValueError as exc:
        parser.error(f"{exc}: give --interface")
    serve(args.factory, interface)


if __name__ == "__main__":
    # Through the module's importable name, so that the worker's loader pickles by it (multiprocessing's spawn).
    from server_variants.granian_serve import main as _main

    _main()
