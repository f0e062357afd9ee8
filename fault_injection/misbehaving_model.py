"""A stand-in model service that answers badly on purpose, for the scoring service's client to survive.

Modes (``MisbehavingModel.mode``, switchable while it runs):

- ``drip``: a valid answer, one byte every ``drip_interval_s`` (each read arrives in time; the whole does not);
- ``endless``: a chunked answer that never ends (stopped after ``max_s``);
- ``huge``: an answer announcing ``Content-Length: 300000000`` and streaming that much;
- ``ok``: a valid answer at once.

It runs in a thread of the calling process, on a free loopback port, with every connection bounded by ``max_s``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reference.api import Prediction

ANSWER = Prediction(model="model_b", version="1.0.0", prediction=0.5).model_dump_json().encode()
HUGE_BYTES = 300_000_000


class MisbehavingModel:
    """A model service on ``127.0.0.1:<port>`` that drips, never ends, or answers hundreds of megabytes."""

    def __init__(self, mode: str = "drip", drip_interval_s: float = 0.05, max_s: float = 10.0) -> None:
        self.mode = mode
        self.drip_interval_s = drip_interval_s
        self.max_s = max_s
        self.requests = 0  # predict calls received
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    owner.requests += 1
                with contextlib.suppress(OSError):  # the client gave up: that is the point
                    owner._answer(self)

            def do_GET(self) -> None:  # liveness, for the scoring service's readiness
                self.send_response(200)
                self.send_header("Content-Length", "15")
                self.end_headers()
                self.wfile.write(b'{"status":"OK"}')

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    def url(self, path: str) -> str:
        """The URL of ``path`` on this stand-in."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> MisbehavingModel:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        ends = time.monotonic() + self.max_s
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if self.mode == "ok":
            handler.send_header("Content-Length", str(len(ANSWER)))
            handler.end_headers()
            handler.wfile.write(ANSWER)
        elif self.mode == "drip":
            handler.send_header("Content-Length", str(len(ANSWER)))
            handler.end_headers()
            for byte in ANSWER:
                if time.monotonic() > ends:
                    return
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(self.drip_interval_s)
        elif self.mode == "endless":
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            chunk = b"[" + b"0," * 8191 + b"0]"
            while time.monotonic() < ends:
                handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        else:  # huge
            handler.send_header("Content-Length", str(HUGE_BYTES))
            handler.end_headers()
            block, sent = b"0" * 65536, 0
            while sent < HUGE_BYTES and time.monotonic() < ends:
                handler.wfile.write(block)
                sent += len(block)
