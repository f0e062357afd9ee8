"""The fault-injection proxy against real local servers: pass, latency, blackhole, reset, refuse, close."""

from __future__ import annotations

import contextlib
import gc
import http.client
import http.server
import random
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from fault_injection.proxy import FaultProxy, Mode, parse_address, run_command

TIMEOUT_S = 3.0  # any socket wait that should not happen fails the test this fast
LARGE = random.Random(7).randbytes(8 * 1024 * 1024)


class _Echo(socketserver.BaseRequestHandler):
    """Send back every byte received; close after the client's EOF."""

    def handle(self) -> None:
        server: EchoServer = self.server  # type: ignore[assignment]
        with server.lock:
            server.open_connections += 1
        try:
            self.request.settimeout(TIMEOUT_S)
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError as exc:  # reset by the proxy (expected in some tests), or timed out
            server.errors.append(exc)
        finally:
            with server.lock:
                server.open_connections -= 1


class EchoServer(socketserver.ThreadingTCPServer):
    """A TCP echo server on a free port of 127.0.0.1 that counts its open connections."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.open_connections = 0
        self.errors: list[OSError] = []


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello through the proxy"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[tuple[str, int]]:
    """Run ``server`` in a thread for the block; yield its address."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT_S)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    with serving(server):
        yield server


@pytest.fixture
def web() -> Iterator[tuple[str, int]]:
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)) as address:
        yield address


@pytest.fixture
def proxy(echo) -> Iterator[FaultProxy]:
    with FaultProxy(upstream=echo.server_address) as proxy:
        yield proxy


def connect(proxy: FaultProxy, timeout: float = TIMEOUT_S) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=timeout)


def echoed(sock: socket.socket, message: bytes) -> bytes:
    """Send ``message`` on an open connection and read back as many bytes."""
    sock.sendall(message)
    received = b""
    while len(received) < len(message):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def exchange(proxy: FaultProxy, payload: bytes) -> bytes:
    """Send ``payload`` on a new connection while reading, half-close, and return all that came back."""

    def send() -> None:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)

    chunks = []
    with connect(proxy) as sock, ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send)
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
        sending.result(TIMEOUT_S)
    return b"".join(chunks)


def check_exact(received: bytes, expected: bytes, echo: EchoServer) -> None:
    """Fail with the sizes, the first difference and the echo server's errors rather than an 8 MiB diff."""
    if received != expected:
        pairs = enumerate(zip(received, expected, strict=False))
        at = next((i for i, (a, b) in pairs if a != b), min(len(received), len(expected)))
        pytest.fail(f"got {len(received)} bytes, not {len(expected)}; first difference at {at}; echo: {echo.errors}")


def get(address: tuple[str, int], timeout: float = TIMEOUT_S) -> bytes:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        conn.close()


def test_pass_through_is_byte_exact_both_ways_with_a_large_payload(proxy, echo):
    assert proxy.port > 0
    assert proxy.mode is Mode.PASS
    check_exact(exchange(proxy, LARGE), LARGE, echo)
    assert exchange(proxy, b"") == b""  # the half-close alone goes through too


def test_http_through_the_proxy(web):
    with FaultProxy(upstream=web) as proxy:
        assert get(proxy.address) == b"hello through the proxy"


def test_latency_delays_each_direction_by_at_least_the_configured_value(proxy):
    with connect(proxy) as sock:
        assert echoed(sock, b"warm") == b"warm"
        proxy.set_latency(0.2)  # switched while the connection is open
        assert proxy.mode is Mode.LATENCY
        started = time.monotonic()
        assert echoed(sock, b"ping") == b"ping"
        assert time.monotonic() - started >= 0.4  # 0.2 s to the server, 0.2 s back
        proxy.restore()
        assert echoed(sock, b"after") == b"after"


def test_latency_over_http(web):
    with FaultProxy(upstream=web, mode="latency", latency_s=0.15) as proxy:
        started = time.monotonic()
        assert get(proxy.address) == b"hello through the proxy"
        assert time.monotonic() - started >= 0.3


def test_latency_keeps_a_large_payload_byte_exact(proxy, echo):
    proxy.set_latency(0.05)
    started = time.monotonic()
    check_exact(exchange(proxy, LARGE), LARGE, echo)
    assert time.monotonic() - started >= 0.1


def test_switching_modes_from_another_thread_during_a_transfer_keeps_it_byte_exact(proxy, echo):
    with ThreadPoolExecutor(1) as pool:
        transfer = pool.submit(exchange, proxy, LARGE)
        for latency in (0.02, 0.0, 0.01, 0.03):
            proxy.set_latency(latency)  # a later chunk may be due before an earlier one: order must hold
        proxy.restore()
        check_exact(transfer.result(TIMEOUT_S), LARGE, echo)


def test_blackhole_makes_clients_time_out_and_restore_brings_it_back(proxy):
    with connect(proxy, timeout=0.5) as opened_before:
        assert echoed(opened_before, b"ok") == b"ok"
        proxy.blackhole()
        with pytest.raises(TimeoutError):
            echoed(opened_before, b"anyone?")
    with connect(proxy, timeout=0.5) as opened_during:  # accepted, read, never answered
        with pytest.raises(TimeoutError):
            echoed(opened_during, b"anyone?")
        proxy.restore()
    assert exchange(proxy, b"back") == b"back"


def test_blackhole_times_out_an_http_client(web):
    with FaultProxy(upstream=web, mode=Mode.BLACKHOLE) as proxy, pytest.raises(TimeoutError):
        get(proxy.address, timeout=0.5)


def test_reset_resets_open_and_new_connections_and_restore_brings_it_back(proxy):
    with connect(proxy) as sock:
        assert echoed(sock, b"ok") == b"ok"
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
    with pytest.raises(ConnectionError), connect(proxy) as sock:
        echoed(sock, b"hello?")
    proxy.restore()
    assert exchange(proxy, b"back") == b"back"


def test_refuse_stops_listening_and_restore_listens_again_on_the_same_port(proxy):
    port = proxy.port
    with connect(proxy) as sock:
        assert echoed(sock, b"ok") == b"ok"
        proxy.refuse()
        with pytest.raises(ConnectionResetError):
            sock.recv(1)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.restore()
    assert proxy.port == port
    assert exchange(proxy, b"back") == b"back"


def test_an_unreachable_upstream_resets_the_client():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # a port that is free, and never listened on
        address = sock.getsockname()
    with FaultProxy(upstream=address) as proxy, pytest.raises(ConnectionError):
        exchange(proxy, b"hello?")


def test_close_leaves_no_listening_port_no_connection_and_no_thread(echo):
    proxy = FaultProxy(upstream=echo.server_address).start()
    with connect(proxy) as sock:
        assert echoed(sock, b"ok") == b"ok"
        assert proxy.connection_count == 1
        proxy.close()
        assert sock.recv(1) == b""  # closed by the proxy
    assert proxy.connection_count == 0
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    deadline = time.monotonic() + TIMEOUT_S
    while echo.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert echo.open_connections == 0  # the upstream side is closed too
    assert not [t for t in threading.enumerate() if t.name == "FaultProxy"]
    gc.collect()  # an unclosed socket or transport would warn here, and warnings are errors
    proxy.close()  # twice is harmless


def test_mode_switches_need_a_running_proxy_and_valid_values(proxy):
    with pytest.raises(ValueError, match="latency"):
        proxy.set_latency(-1)
    with pytest.raises(ValueError, match="nonsense"):
        proxy.set_mode("nonsense")
    proxy.close()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.blackhole()


def test_cli_commands_and_addresses(proxy):
    assert run_command(proxy, "latency 250\n")
    assert (proxy.mode, proxy.latency_s) == (Mode.LATENCY, 0.25)
    for mode in ("blackhole", "reset", "refuse", "pass"):
        assert run_command(proxy, mode)
        assert proxy.mode == mode
    assert run_command(proxy, "  ")
    with pytest.raises(ValueError, match="unknown command"):
        run_command(proxy, "latency")
    assert not run_command(proxy, "quit")
    assert parse_address("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_address("[::1]:0") == ("::1", 0)
