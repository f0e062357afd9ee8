"""Process lifecycle shared by the web layer and the workers: draining on shutdown."""

from __future__ import annotations

import threading

_draining = threading.Event()


def start_draining() -> None:
    """Mark this worker as shutting down: readiness fails from now on, requests are still served."""
    _draining.set()


def is_draining() -> bool:
    """True once shutdown has begun."""
    return _draining.is_set()
