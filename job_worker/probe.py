"""A job worker's own port: liveness, readiness and ``/metrics``, served by a stdlib HTTP server on a thread.

The same for both workers: a thread answers scrapes and probes even while the worker's loop is busy, and it
loads no web framework (the sync worker must not load the async stack's libraries). It serves one
connection at a time, each bounded by a socket timeout, so no client can hold it or make it grow.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from job_worker.metrics import exposition
from job_worker.worker import WorkerState
from reference.api import HEALTH_PATH, METRICS_PATH, READY_PATH
from reference.core import http_error

# A client must send its request and read the answer within this.
CLIENT_TIMEOUT_S = 2.0
JSON = "application/json"


class ProbeServer:
    """``GET /api/v1/healthcheck``, ``/api/v1/ready`` and ``/metrics`` on ``(host, port)``, on a daemon thread."""

    def __init__(self, host: str, port: int, state: WorkerState) -> None:
        self._server = HTTPServer((host, port), _handler(state))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,), name="probe", daemon=True)

    def start(self) -> ProbeServer:
        """Start answering."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop answering and release the port."""
        self._server.shutdown()
        self._server.server_close()


def _handler(state: WorkerState) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[], tuple[int, bytes, str]]] = {
        HEALTH_PATH: lambda: _json(200, {"status": "OK"}),
        READY_PATH: lambda: _json(*state.readiness()),
        METRICS_PATH: lambda: (200, *exposition()),
    }

    class Handler(BaseHTTPRequestHandler):
        timeout = CLIENT_TIMEOUT_S  # HTTP/1.0, as http.server defaults to: each connection closes after its answer

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body, content_type = route() if route else _json(404, http_error(404).body())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the worker's log

    return Handler


def _json(status: int, body: dict[str, Any]) -> tuple[int, bytes, str]:
    """A JSON answer, written as the services write theirs (compact, keys in order)."""
    return status, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), JSON
