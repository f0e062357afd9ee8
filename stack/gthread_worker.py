"""The sync stack's gunicorn worker: gthread, draining before it stops accepting."""

from __future__ import annotations

import threading

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

from common.lifecycle import start_draining
from common.server_settings import ServerSettings


class ThreadWorker(GunicornThreadWorker):
    """gunicorn's gthread worker that, on SIGTERM, first fails readiness for ``drain_delay_s`` while still serving."""

    def init_process(self) -> None:
        self._drain_delay_s = ServerSettings().drain_delay_s
        self._drain_started = False
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        """Start draining; stop accepting only after the drain delay (a second signal stops at once)."""
        if self._drain_started or self._drain_delay_s <= 0:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        start_draining()
        threading.Timer(self._drain_delay_s, super().handle_exit, (sig, frame)).start()
