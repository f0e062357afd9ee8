"""Process lifecycle shared by the web layer and the workers: draining on shutdown, and closing on exit."""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
_draining = threading.Event()
_exit_hooks: list[Callable[[], None]] = []


def start_draining() -> None:
    """Mark this worker as shutting down: readiness fails from now on, requests are still served."""
    _draining.set()


def is_draining() -> bool:
    """True once shutdown has begun."""
    return _draining.is_set()


def on_worker_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` once when this worker process stops (a sync app closes its clients so).

    gunicorn's workers leave through ``sys.exit``, which runs ``atexit``; Granian's leave through
    ``os._exit`` (multiprocessing), so its worker calls ``run_worker_exit_hooks`` itself.
    """
    if not _exit_hooks:
        atexit.register(run_worker_exit_hooks)
    _exit_hooks.append(hook)


def run_worker_exit_hooks() -> None:
    """Run every registered hook once, last registered first; one that fails does not stop the others."""
    while _exit_hooks:
        hook = _exit_hooks.pop()
        try:
            hook()
        except Exception:
            log.exception("a worker exit hook failed")
