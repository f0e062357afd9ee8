"""A real HTTP server on 127.0.0.1 answering as a model service would, or as a broken one would."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b'{"model":"model_a","version":"1","prediction":0.25}'
# How the server answers: a well-formed answer on a kept-alive connection or on one it then closes, or a broken one.
MODES = {
    "keep-alive": (200, ANSWER, {}),
    "connection-close": (200, ANSWER, {"Connection": "close"}),
    "status-500": (500, b'{"error":"boom"}', {}),
    "not-json": (200, b"<html>", {}),
    "not-finite": (200, b'{"model":"m","version":"1","prediction":NaN}', {}),
    "a-string": (200, b'{"model":"m","version":"1","prediction":"0.25"}', {}),
    "too-large-declared": (200, b"x" * 40_000, {}),
    "too-large-undeclared": (200, b"x" * 40_000, {"Connection": "close", "omit-length": "1"}),
    "dripping": (200, ANSWER, {"drip-s": "0.05"}),
    "silent": (200, ANSWER, {"delay-s": "3"}),
}


@contextmanager
def answer_server(mode: str) -> Iterator[str]:
    """The predict URL of a server answering every request in ``mode``."""
    with serve_answers(*MODES[mode]) as url:
        yield url


@contextmanager
def serve_answers(status: int, body: bytes, extra: dict[str, str], ready: int = 200) -> Iterator[str]:
    """The predict URL of a server answering every POST with ``status`` and ``body`` as ``extra`` says (``delay-s``
    before it, ``drip-s`` between its bytes, ``omit-length``, a ``Connection`` header), and every GET with
    ``ready``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(float(extra.get("delay-s", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if "omit-length" not in extra:
                self.send_header("Content-Length", str(len(body)))
            if "Connection" in extra:
                self.send_header("Connection", extra["Connection"])  # http.server closes after this answer
            self.end_headers()
            if "drip-s" in extra:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(float(extra["drip-s"]))
            else:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self.send_response(ready)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address) -> None:
            pass  # a client giving up mid-answer (its timeout) is what these servers are for: no traceback

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/ml/test/predict"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
