"""The sync stack's green-thread gunicorn worker: gunicorn's gevent worker, draining before it stops accepting.

gunicorn's gevent worker monkey-patches the standard library (``gevent.monkey.patch_all``) first thing in each
worker, after fork and before it loads the app: the app factory, redis-py, urllib3 and the fan-out's
``ThreadPoolExecutor`` are imported and built on patched sockets, locks and threads, so a request waiting on
Redis or a model yields to the others, as on an event loop. The master imports nothing that must come after the
patch (``tests/unit/test_gevent_patch.py`` checks it). A request is read as it arrives (one green thread per
connection), so the time it waited is the time before the app saw it, as on uvicorn.
"""

from __future__ import annotations

import gevent
from gunicorn.workers.ggevent import GeventWorker

from service_runtime.core.lifecycle import start_draining
from service_runtime.core.server_settings import ServerSettings


class GeventDrainingWorker(GeventWorker):
    """gunicorn's gevent worker that, on SIGTERM, fails readiness for ``drain_delay_s`` while still serving."""

    def init_process(self) -> None:
        self._drain_delay_s = ServerSettings().drain_delay_s
        self._drain_started = False
        super().init_process()  # patches, then loads the app and serves

    def patch(self) -> None:
        """gunicorn's monkey-patching, then grpcio's gevent integration: the model services run a gRPC server in each
        worker, and grpcio's own threads and completion queue would block the hub without it (the worker never
        answered its first health check)."""
        super().patch()
        import grpc.experimental.gevent

        grpc.experimental.gevent.init_gevent()

    def handle_exit(self, sig, frame) -> None:
        """Start draining; stop accepting only after the drain delay (a second signal stops at once)."""
        if self._drain_started or self._drain_delay_s <= 0:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        start_draining()
        # A green timer: signal handlers must return at once, and this only sets a flag.
        gevent.spawn_later(self._drain_delay_s, super().handle_exit, sig, frame)
