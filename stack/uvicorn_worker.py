"""The async stack's gunicorn worker: uvicorn with uvloop and httptools, and a bounded shutdown."""

from __future__ import annotations

from typing import Any, ClassVar

import uvicorn_worker


class UvicornWorker(uvicorn_worker.UvicornWorker):
    """uvicorn under gunicorn, so both stacks share one process manager, its signals and its timeouts."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {"loop": "uvloop", "http": "httptools", "lifespan": "on"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn waits forever for in-flight requests by default; finish a second before
        # gunicorn's graceful timeout would SIGKILL us, so the lifespan shutdown still runs.
        self.config.timeout_graceful_shutdown = max(1, self.cfg.graceful_timeout - 1)
