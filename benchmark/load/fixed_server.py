"""A test server for the load generator: answers every predict request with its exact expected body after
exactly ``delay_ms``, so what a generator reports can be compared with the truth.

One thread per connection, each sleeping with ``time.sleep`` (sub-millisecond); keep-alive, no pipelining.
``--wrong-every N`` answers a wrong score every N-th request, to prove the generator checks answers. To make it
stall, stop it (SIGSTOP) and continue it (SIGCONT): a real stall, like a long pause of a real server.
``GET /served`` answers how long the server really took (request read to answer written) since the last ``GET
/served``: on a busy or virtual machine its own sleeps wake late, and a generator is judged against that truth too.

``python -m benchmark.load.fixed_server --delay-ms 20`` prints ``listening on PORT`` and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import orjson

from benchmark.load.expected import expected_body
from benchmark.load.latency import Latencies

MAX_HEAD = 16_384
MAX_BODY = 65_536
PR_SET_TIMERSLACK = 29


def json_answer(body: bytes) -> bytes:
    """A whole 200 HTTP answer carrying a JSON ``body``."""
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@cache
def answer(entity_id: str, wrong: bool) -> bytes:
    """The whole HTTP answer owed for ``entity_id`` (or a wrong one)."""
    body = expected_body(entity_id)
    if wrong:
        body = body.replace(b'"score":', b'"score":1', 1)
    return json_answer(body)


BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def read_request(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """The next request's head and body (None when the client closed or sent something this server does not take)."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk or len(buffer) > MAX_HEAD:
            return None
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    if length > MAX_BODY:
        return None
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    buffer[:] = rest[length:]
    return head, rest[:length]


class Served:
    """How long each answer really took the server, in an HDR histogram (fixed size however long it runs), until
    read out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # connection threads record at once
        self._latencies = Latencies()

    def record(self, seconds: float) -> None:
        """One answer's time, from its request read to its answer written."""
        with self._lock:
            self._latencies.record(seconds)

    def take(self) -> bytes:
        """The whole answer to ``GET /served``: a summary of what was served since the last one (milliseconds)."""
        with self._lock:
            taken, self._latencies = self._latencies, Latencies()
        return json_answer(orjson.dumps(taken.summary()))


def serve_connection(sock: socket.socket, delay_s: float, counter, wrong_every: int, served: Served) -> None:
    """Answer the requests of one connection until it closes."""
    buffer = bytearray()
    with sock, contextlib.suppress(OSError):
        while (request := read_request(sock, buffer)) is not None:
            arrived = time.perf_counter()
            head, body = request
            if head.startswith(b"GET /served "):
                sock.sendall(served.take())
                continue
            try:
                entity_id = str(orjson.loads(body)["entity_id"])
            except (ValueError, KeyError, TypeError):
                sock.sendall(BAD_REQUEST)
                return
            wrong = wrong_every > 0 and next(counter) % wrong_every == wrong_every - 1
            reply = answer(entity_id, wrong)
            if (left := arrived + delay_s - time.perf_counter()) > 0:
                time.sleep(left)
            # Recorded before the answer leaves, so a client that has its last answer finds it counted.
            served.record(time.perf_counter() - arrived)
            sock.sendall(reply)


@dataclass
class FixedServer:
    """A started fixed-delay server: its port, and a way to stall it."""

    port: int
    process: subprocess.Popen

    def url(self, path: str = "/api/v1/ml/async/predict") -> str:
        """A predict URL on it (it answers any path)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def stall(self, after_s: float, for_s: float) -> threading.Timer:
        """Stop the whole process ``after_s`` from now for ``for_s`` (SIGSTOP, then SIGCONT)."""

        def pause() -> None:
            with contextlib.suppress(ProcessLookupError):  # the server may be gone by then
                os.kill(self.process.pid, signal.SIGSTOP)
                time.sleep(for_s)
                os.kill(self.process.pid, signal.SIGCONT)

        timer = threading.Timer(after_s, pause)
        timer.start()
        return timer

    def served(self) -> dict:
        """What the server really took per answer (ms: count, percentiles) since the last call."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/served", timeout=5) as answer:
            return orjson.loads(answer.read())


@contextlib.contextmanager
def running_fixed_server(delay_ms: float, wrong_every: int = 0, cpu: int | None = None) -> Iterator[FixedServer]:
    """Start the server in its own process (pinned to ``cpu`` if given), wait for its port, kill it at the end."""
    argv = [sys.executable, "-m", "benchmark.load.fixed_server", "--delay-ms", str(delay_ms),
            "--wrong-every", str(wrong_every)]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    if cpu is not None:
        # Pinned from here, not by a preexec_fn: Popen returns once the child has exec'd, long before its interpreter
        # starts a thread, and a preexec_fn in a process with gRPC loaded can kill the child (grpc/grpc#43055).
        os.sched_setaffinity(process.pid, {cpu})
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"fixed server did not start: {line!r}")
        yield FixedServer(int(line.split()[-1]), process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    """Listen, print the port, serve until killed."""
    cli = argparse.ArgumentParser(prog="python -m benchmark.load.fixed_server", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    cli.add_argument("--delay-ms", type=float, default=20.0, help="time from request to answer (default: 20)")
    cli.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    cli.add_argument("--wrong-every", type=int, default=0, help="a wrong score every N-th answer (default: 0, never)")
    args = cli.parse_args(argv)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    listener = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    counter, served = itertools.count(), Served()
    while True:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_connection, args=(sock, args.delay_ms / 1000, counter, args.wrong_every, served),
                         daemon=True).start()  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
