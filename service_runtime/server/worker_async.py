"""The async stack's gunicorn worker: uvicorn with uvloop and guarded httptools, draining before a bounded shutdown."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import uvicorn
import uvicorn_worker
from gunicorn.arbiter import Arbiter

from service_runtime.core.lifecycle import start_draining
from service_runtime.core.server_settings import ServerSettings
from service_runtime.server.http_async import GuardedHttpToolsProtocol


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, on SIGTERM, first fails readiness for ``drain_delay_s`` while still serving."""

    def __init__(self, config: uvicorn.Config, drain_delay_s: float) -> None:
        super().__init__(config)
        self._drain_delay_s = drain_delay_s
        self._drain_started = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Start draining; stop accepting only after the drain delay (a second signal stops at once)."""
        if self._drain_started or self._drain_delay_s <= 0:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        start_draining()
        # A timer thread: signal handlers must return at once, and this only sets flags.
        threading.Timer(self._drain_delay_s, super().handle_exit, (sig, frame)).start()


class AsyncDrainingWorker(uvicorn_worker.UvicornWorker):
    """uvicorn under gunicorn, so both stacks share one process manager, its signals and its timeouts."""

    # No per-request access log (as on the sync stack): the middleware logs server errors. httptools with the
    # limits uvicorn lacks (head size, head timeout, connections: server/http_async.py).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "uvloop",
        "http": GuardedHttpToolsProtocol,
        "lifespan": "on",
        "access_log": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn waits forever for in-flight requests by default; finish a second before
        # gunicorn's graceful timeout would SIGKILL us, so the lifespan shutdown still runs.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 1)

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config, drain_delay_s=ServerSettings().drain_delay_s)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            raise SystemExit(Arbiter.WORKER_BOOT_ERROR)
