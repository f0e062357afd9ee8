"""Granian serving one service of either stack, configured from ``ServerSettings`` (``SERVER_*``).

What ``system_launcher.registry.service_argv`` runs when a stack's server is Granian (``STACK_ASYNC_SERVER`` /
``STACK_SYNC_SERVER``): ``SERVER_WORKER_CLASS`` is ``granian-asgi`` (the FastAPI apps, with their lifespan) or
``granian-wsgi`` (the Flask apps). As with gunicorn, every worker is a process of its own that calls the app
factory after it started, so each builds its own clients; the async ones close in the lifespan's shutdown, the
sync ones through ``service_runtime.core.lifecycle.on_worker_exit`` (Granian's workers end with ``os._exit``,
which skips ``atexit``, so the worker runs the hooks itself). On SIGTERM a worker first fails readiness for
``SERVER_DRAIN_DELAY_S`` while still serving, as the gunicorn workers here do, then stops accepting and finishes
what it holds. ``granian_options`` maps the settings to Granian's options; README ("Servers") lists what
Granian does not offer.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import threading
from collections.abc import Callable
from typing import Any

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server

from service_runtime.core.lifecycle import is_draining, run_worker_exit_hooks, start_draining
from service_runtime.core.server_settings import GRANIAN_WORKER_CLASSES, ServerSettings
from service_runtime.server.process import fresh_metrics_dir, log_config, raise_open_files_limit

# Granian's HTTP/1 read buffer must hold a whole request head, and cannot be smaller than this.
MIN_BUFFER_BYTES = 8192
# The range Granian accepts for its header read timeout, in milliseconds.
HEADER_TIMEOUT_MS = (1, 60_000)


def granian_options(settings: ServerSettings) -> dict[str, Any]:
    """Granian's arguments for a service ``settings`` describe, the same limits as the gunicorn workers where
    Granian has the option."""
    if settings.worker_class not in GRANIAN_WORKER_CLASSES:
        raise ValueError(f"SERVER_WORKER_CLASS={settings.worker_class} is not served by Granian")
    wsgi = settings.worker_class == "granian-wsgi"
    # hyper's header read timeout bounds both a request's head and an idle keep-alive connection: one timer for
    # SERVER_HEADER_TIMEOUT_S and SERVER_KEEPALIVE_S, the shorter of the two.
    head_ms = round(min(settings.header_timeout_s, settings.keepalive_s) * 1000)
    return {
        "address": settings.host,
        "port": settings.port,
        "interface": Interfaces.WSGI if wsgi else Interfaces.ASGI,  # ASGI: with the app's lifespan
        "workers": settings.worker_count(),
        # WSGI: as many threads as gthread has; ASGI: one, the event loop's (Granian allows no more).
        "blocking_threads": settings.concurrency_per_worker(),
        "loop": Loops.uvloop if not wsgi else Loops.auto,  # ASGI: the loop the uvicorn workers run (WSGI: unused)
        "http": HTTPModes.http1,  # HTTP/1.1 only, as gunicorn and uvicorn serve here
        "websockets": False,
        "backlog": settings.backlog,
        # A permit per accepted connection: past it the worker stops accepting, as gthread's worker_connections.
        "backpressure": settings.max_connections,
        "http1_settings": HTTP1Settings(
            header_read_timeout=min(max(head_ms, HEADER_TIMEOUT_MS[0]), HEADER_TIMEOUT_MS[1]),
            keep_alive=True,
            # A head that does not fit gets 431: the buffer is the head limit.
            max_buffer_size=max(MIN_BUFFER_BYTES, settings.max_header_bytes),
        ),
        "log_level": LogLevels(settings.log_level.lower()),
        "log_dictconfig": log_config(settings.log_level),
        "log_access": False,  # the middleware logs server errors, and every request with SERVER_ACCESS_LOG
        "respawn_failed_workers": True,  # as gunicorn's arbiter replaces a worker that died
        "workers_kill_timeout": settings.graceful_timeout_s,
        "factory": True,  # the target is an app factory, called once in each worker
    }


def serve(app_factory: str, settings: ServerSettings | None = None) -> None:
    """Serve ``module:factory`` with Granian until SIGINT or SIGTERM."""
    settings = settings or ServerSettings()
    options = granian_options(settings)
    raise_open_files_limit()
    metrics_dir = fresh_metrics_dir(settings.name)
    worker = wsgi_worker if options["interface"] == Interfaces.WSGI else asgi_worker
    try:
        Server(app_factory, **options).serve(spawn_target=worker)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


# -- inside each worker process ------------------------------------------------------------------------------
def asgi_worker(*args: Any, **kwargs: Any) -> None:
    """One Granian ASGI worker: Granian's own, with the app's lifespan, draining first on SIGTERM."""
    _drain_on_signal()
    Server._spawn_asgi_lifespan_worker(*args, **kwargs)


def wsgi_worker(*args: Any, **kwargs: Any) -> None:
    """One Granian WSGI worker: Granian's own, draining first on SIGTERM, running the exit hooks when it stops."""
    _drain_on_signal()
    try:
        Server._spawn_wsgi_worker(*args, **kwargs)
    finally:
        run_worker_exit_hooks()


class _Drain:
    """Sets Granian's stop event ``drain_delay_s`` after a first signal (readiness fails meanwhile), at once on a
    second."""

    def __init__(self, stop_event: Any, delay_s: float, later: Callable[[float, Callable[[], None]], Any]) -> None:
        self._stop_event = stop_event
        self._delay_s = delay_s
        self._later = later
        self._lock = threading.Lock()
        self._stopped = False

    def signalled(self) -> None:
        if self._delay_s > 0 and not is_draining():
            start_draining()
            self._later(self._delay_s, self.stop)
        else:
            self.stop()

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._stop_event.set()


def _drain_on_signal() -> None:
    """Replace how Granian installs a worker's signal handlers, so that the worker drains before it stops.

    Granian's worker functions take their handlers from ``granian._signals`` when they start (its event loop's
    for ASGI, ``signal.signal`` for WSGI) and hand the returned stop event to the Rust server; these replacements
    return the same kind of event, set only after the drain.
    """
    from granian import _signals
    from granian._granian import WorkerSignal

    delay_s = ServerSettings().drain_delay_s
    signals = (signal.SIGINT, signal.SIGTERM)

    def loop_signals(loop: Any) -> Any:
        event = WorkerSignal()
        drain = _Drain(event, delay_s, loop.call_later)
        for sig in signals:
            loop.add_signal_handler(sig, drain.signalled)
        return event

    def sync_signals() -> Any:
        event = WorkerSignal()
        drain = _Drain(event, delay_s, _timer)
        for sig in signals:
            signal.signal(sig, lambda signum, frame: drain.signalled())
        return event

    _signals.set_loop_signals = loop_signals
    _signals.set_sync_signals = sync_signals


def _timer(delay_s: float, call: Callable[[], None]) -> None:
    timer = threading.Timer(delay_s, call)
    timer.daemon = True  # never what keeps a stopping worker alive
    timer.start()


def main(argv: list[str] | None = None) -> None:
    """The command line: one argument, the app factory."""
    parser = argparse.ArgumentParser(
        prog="python -m service_runtime.server.granian_serve",
        description="Serve one service's app factory with Granian, configured from SERVER_* (ServerSettings): "
        "SERVER_WORKER_CLASS=granian-asgi serves a FastAPI app, granian-wsgi a Flask app.",
    )
    parser.add_argument("app", help="the app factory as module:function, called once in each worker")
    serve(parser.parse_args(argv).app)


if __name__ == "__main__":
    # Through the module's importable name, so that the worker functions pickle by it (multiprocessing's spawn).
    from service_runtime.server.granian_serve import main as _main

    _main()
