"""Hostile and unlucky clients, as a test or an operator would send them: idle connections, slowloris, slow
bodies, pipelining, raw requests. Every one is bounded in connections and time and cleans up after itself.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

Address = tuple[str, int]


def raw_exchange(address: Address, request: bytes, timeout_s: float = 5.0, read_until_close: bool = True) -> bytes:
    """Send ``request`` as is and return what came back until the server closed (or ``timeout_s`` passed)."""
    with socket.create_connection(address, timeout=timeout_s) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before the request is all sent
            sock.sendall(request)
        return _read(sock, timeout_s, read_until_close)


def _read(sock: socket.socket, timeout_s: float, until_close: bool) -> bytes:
    received = b""
    ends = time.monotonic() + timeout_s
    while (left := ends - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        received += chunk
        if not until_close and b"\r\n\r\n" in received:
            break
    return received


def statuses(answer: bytes) -> list[int]:
    """The status codes of every response in a stream of HTTP/1.1 responses, in order (JSON bodies, no CRLF)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answer)]


@contextlib.contextmanager
def idle_connections(address: Address, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send nothing, held open for the block, then closed."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            with contextlib.suppress(OSError):  # refused or reset once the server is at its limit: that is fine
                socks.append(socket.create_connection(address, timeout=2.0))
        yield socks
    finally:
        for sock in socks:
            sock.close()


@dataclass
class Trickle:
    """Connections that each send ``payload`` one byte every ``interval_s``, in a thread, until stopped.

    A slowloris sends a request head this way; a slow body, a whole head and then its body this way.
    """

    address: Address
    count: int
    head: bytes  # sent at once (b"" for a slowloris)
    payload: bytes  # then sent one byte at a time
    interval_s: float = 1.0
    max_s: float = 60.0
    cut: int = 0  # connections the server closed
    _stop: threading.Event = field(default_factory=threading.Event)
    _all_cut: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Trickle:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)

    def all_cut_within(self, seconds: float) -> bool:
        """Whether the server closes every connection within ``seconds`` (waits no longer)."""
        return self._all_cut.wait(seconds)

    def _run(self) -> None:
        socks = []
        for _ in range(self.count):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(self.address, timeout=2.0)
                sock.sendall(self.head)
                socks.append(sock)
        ends = time.monotonic() + self.max_s
        position = 0
        while socks and not self._stop.is_set() and time.monotonic() < ends:
            byte = self.payload[position % len(self.payload) : position % len(self.payload) + 1]
            position += 1
            alive = []
            for sock in socks:
                try:
                    sock.sendall(byte)
                    alive.append(sock)
                except OSError:
                    self.cut += 1
                    sock.close()
            socks = alive
            if not socks:
                self._all_cut.set()
            self._stop.wait(self.interval_s)
        for sock in socks:
            sock.close()


def slowloris(address: Address, count: int, interval_s: float = 1.0, max_s: float = 60.0) -> Trickle:
    """Connections sending a never-ending request head, one byte at a time."""
    head = b"GET /api/v1/healthcheck HTTP/1.1\r\nHost: x\r\n" + b"X-Padding: " + b"a" * 4000
    return Trickle(address, count, b"", head, interval_s, max_s)


def slow_bodies(address: Address, count: int, path: str, interval_s: float = 1.0, max_s: float = 60.0) -> Trickle:
    """Connections sending a whole head announcing a 60,000-byte body, then the body one byte at a time."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
    return Trickle(address, count, head.encode(), b" ", interval_s, max_s)


def pipelined(path: str, bodies: list[bytes]) -> bytes:
    """One buffer holding several POST requests back to back, as a pipelining client sends them."""
    return b"".join(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        .encode() + body
        for body in bodies
    )  # fmt: skip
