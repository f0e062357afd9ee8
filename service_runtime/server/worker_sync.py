"""The sync stack's gunicorn worker: gthread, draining before it stops accepting."""

from __future__ import annotations

import threading
import time

from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

from service_runtime.core.lifecycle import start_draining
from service_runtime.core.server_settings import ServerSettings

# Time between no longer accepting and stopping: lets connections accepted just before
# send their request and have it queued (gthread drops accepted-but-unread connections on exit).
SETTLE_S = 0.5


class DrainingWorker(GunicornThreadWorker):
    """gunicorn's gthread worker that, on SIGTERM, fails readiness for ``drain_delay_s`` while still serving,
    then stops accepting and lets the connections it already took be served before it exits."""

    def init_process(self) -> None:
        self._drain_delay_s = ServerSettings().drain_delay_s
        self._drain_started = False
        super().init_process()

    def handle_exit(self, sig, frame) -> None:
        """Start draining in the background (a second signal stops at once)."""
        if self._drain_started:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        start_draining()
        # A thread: signal handlers must return at once.
        threading.Thread(target=self._drain_then_exit, args=(sig, frame), daemon=True).start()

    def _drain_then_exit(self, sig, frame) -> None:
        time.sleep(self._drain_delay_s)
        with self._lock:  # the lock gthread holds around every change to its poller
            for listener in self.sockets:
                self.poller.unregister(listener)
        time.sleep(SETTLE_S)
        super().handle_exit(sig, frame)
