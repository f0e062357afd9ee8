"""A real HTTP server on 127.0.0.1 answering as a model service, keeping connections alive or closing each one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b'{"model":"model_a","version":"1","prediction":0.25}'


@contextmanager
def model_answer_server(close: bool) -> Iterator[str]:
    """The predict URL of a server answering ``ANSWER``; with ``close``, each answer says ``Connection: close`` and
    the server closes the connection after it, as gunicorn's sync worker does."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ANSWER)))
            if close:
                self.send_header("Connection", "close")  # http.server then closes after this answer
            self.end_headers()
            self.wfile.write(ANSWER)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/predict"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
