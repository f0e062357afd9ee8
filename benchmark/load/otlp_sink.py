"""A collector that takes OTLP/HTTP spans and drops them: where a traced stack exports while the answer measures what
tracing costs the stack (its own processes' CPU; the sink's is the load generator's side of the machine)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024 * 1024  # an export batch is far smaller; a larger one is refused, not read


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector serves the SDK's exporter

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_response(413)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        self.rfile.read(length)
        self.server.batches += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:  # no line per batch
        pass


@contextlib.contextmanager
def otlp_sink() -> Iterator[ThreadingHTTPServer]:
    """A sink on a free loopback port for the block's duration; ``server.server_address`` says where, and
    ``server.batches`` how many export batches it took."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.batches = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="otlp-sink", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def endpoint(server: ThreadingHTTPServer) -> str:
    """The base URL an exporter's ``OTEL_EXPORTER_OTLP_ENDPOINT`` names."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
