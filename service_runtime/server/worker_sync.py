"""The sync stack's gunicorn worker: gthread that defends itself, and drains before it stops accepting.

gunicorn's gthread worker, as shipped, can be wedged or fooled by a client (gunicorn's docs say to run it
behind a buffering proxy, which the edge is; this worker holds up without one too):

- a connection that never sends a byte is never timed out, and once ``worker_connections`` are held the
  worker stops polling for good: here every new connection must send its request head within
  ``SERVER_HEADER_TIMEOUT_S`` or is closed, like an idle keep-alive connection;
- a request read byte by byte holds a thread forever: here the head must arrive within
  ``SERVER_HEADER_TIMEOUT_S`` and the whole request within ``SERVER_REQUEST_TIMEOUT_S`` of its arrival;
- of several pipelined requests only the first was answered: here every one is, in order;
- ``Expect: 100-continue`` got ``100 Continue`` before the body size was checked: here a declared body
  over ``SERVER_MAX_BODY_BYTES`` is refused with 413 at once; and an answer the app marks ``Connection:
  close`` (413, 408: a body it did not read) closes the connection instead of waiting for the rest;
- the time a request waits for a free thread was not counted against its deadline: here the worker records
  when the request became readable and passes it to the app (``service_runtime.core.arrival``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import selectors
import socket
import threading
import time
from collections import deque
from functools import partial
from http import HTTPStatus

from gunicorn import util
from gunicorn.http import RequestParser
from gunicorn.http import errors as http_errors
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import TConn
from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

from service_runtime.core import jsonio
from service_runtime.core.arrival import ARRIVAL_ENVIRON_KEY, READ_BY_ENVIRON_KEY
from service_runtime.core.errors import body_too_large, http_error, internal_error, request_timeout
from service_runtime.core.lifecycle import start_draining
from service_runtime.core.server_settings import ServerSettings

# Time between no longer accepting and stopping: lets connections accepted just before
# send their request and have it queued (gthread drops accepted-but-unread connections on exit).
SETTLE_S = 0.5
_local = threading.local()  # the request a thread is serving: its arrival, for the app's environ
# Requests gunicorn's parser refuses, and the status each gets (any other parse error is a 400).
_PARSE_ERRORS = {http_errors.LimitRequestHeaders: 431, http_errors.LimitRequestLine: 414,
                 http_errors.UnsupportedTransferCoding: 501, http_errors.ConfigurationProblem: 500}  # fmt: skip
_BAD_REQUEST = (http_errors.ParseException, http_errors.NoMoreData)


class _ReadDeadline:
    """A connection's socket as the request parser reads it: every read bounded by the request's deadline.

    During the head, a missed deadline answers 408 if part of a head arrived, then ends the connection (as
    gunicorn's "premature disconnection"); during the body, the app's read raises ``TimeoutError``, which the
    sync service answers with 408.
    """

    __slots__ = ("_sock", "deadline", "head_bytes", "in_body")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = math.inf
        self.in_body = False
        self.head_bytes = 0

    def start(self, deadline: float) -> None:
        """A new request: its head must arrive by ``deadline`` (a ``time.monotonic()`` value)."""
        self.deadline, self.in_body, self.head_bytes = deadline, False, 0

    def tighten(self, deadline: float) -> None:
        """Stop reading at ``deadline`` (a ``time.monotonic()`` value) if that is sooner."""
        self.deadline = min(self.deadline, deadline)

    def recv(self, size: int) -> bytes:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError("the request was not read within its timeout")
            self._sock.settimeout(left)
            data = self._sock.recv(size)
        except TimeoutError:
            if self.in_body:
                raise
            if self.head_bytes:
                _send_error(self._sock, request_timeout().status, request_timeout().body())
            raise NoMoreData() from None
        finally:
            self._sock.settimeout(None)  # blocking again, for gunicorn's writes
        self.head_bytes += len(data)
        return data

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _Connection(TConn):
    """gthread's connection, whose request parser reads through a ``_ReadDeadline``."""

    def init(self) -> None:
        self.initialized = True
        self.sock.setblocking(True)
        if self.parser is None:
            self.reads = _ReadDeadline(self.sock)
            self.parser = RequestParser(self.cfg, self.reads, self.client)

    def pipelined(self) -> bool:
        """True if the client has already sent (part of) the next request: it sits in the parser's buffer."""
        return self.parser is not None and self.parser.unreader.buf.getbuffer().nbytes > 0


class DrainingWorker(GunicornThreadWorker):
    """gunicorn's gthread worker, hardened against hostile clients (see the module), that on SIGTERM fails
    readiness for ``drain_delay_s`` while still serving, then stops accepting and serves what it took."""

    def init_process(self) -> None:
        settings = ServerSettings()
        self._drain_delay_s = settings.drain_delay_s
        self._header_timeout_s = settings.header_timeout_s
        self._request_timeout_s = settings.request_timeout_s
        self._max_body_bytes = settings.max_body_bytes
        self._drain_started = False
        self._fresh: deque[_Connection] = deque()  # accepted, no request yet: timed out like keep-alive ones
        super().init_process()

    def load_wsgi(self) -> None:
        """Wrap the app so that it learns when each request arrived (``ARRIVAL_ENVIRON_KEY``)."""
        super().load_wsgi()
        app = self.wsgi

        def with_arrival(environ, start_response):
            reads = _local.reads
            reads.in_body = True  # from here on the app reads the body
            reads.deadline = _local.arrived + self._request_timeout_s
            environ[ARRIVAL_ENVIRON_KEY] = _local.arrived
            environ[READ_BY_ENVIRON_KEY] = reads.tighten
            return app(environ, _closing_on_request(start_response))

        self.wsgi = with_arrival

    # -- connections: every one is timed out until it sends a request ------------------------------------
    def accept(self, server, listener) -> None:
        try:
            sock, client = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = _Connection(self.cfg, sock, client, server)
        conn.timeout = time.time() + self._header_timeout_s
        self.nr_conns += 1
        with self._lock:
            self._fresh.append(conn)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def on_client_socket_readable(self, conn, client) -> None:
        with self._lock:
            self.poller.unregister(client)
            queue = self._keep if conn.initialized else self._fresh
            try:
                queue.remove(conn)
            except ValueError:
                return  # timed out and closed meanwhile
        conn.arrived = time.monotonic()  # readable: the request is here, whether or not a thread is free
        self.enqueue_req(conn)

    def murder_keepalived(self) -> None:
        """Close keep-alive connections idle past the keep-alive, and new ones silent past the header timeout."""
        super().murder_keepalived()
        now = time.time()
        while True:
            with self._lock:
                if not self._fresh or self._fresh[0].timeout > now:
                    return
                conn = self._fresh.popleft()
                with contextlib.suppress(KeyError, ValueError, OSError):  # already gone
                    self.poller.unregister(conn.sock)
            self.nr_conns -= 1
            conn.close()

    # -- requests: bounded reads, every pipelined request answered, 413 before 100 Continue -----------------
    def handle(self, conn):
        keepalive, conn = self._handle_one(conn)
        while keepalive and self.alive and conn.pipelined():
            conn.arrived = time.monotonic()
            keepalive, conn = self._handle_one(conn)
        return keepalive, conn

    def _handle_one(self, conn):
        conn.reads.start(conn.arrived + self._header_timeout_s)
        _local.arrived, _local.reads = conn.arrived, conn.reads
        return super().handle(conn)

    def handle_request(self, req, conn):
        if _expects_continue(req) and (_declared_length(req) or 0) > self._max_body_bytes:
            # gunicorn would answer 100 Continue before anyone looks at the size: refuse first.
            _send_error(conn.sock, 413, body_too_large(self._max_body_bytes).body())
            return False
        return super().handle_request(req, conn)

    def handle_error(self, req, client, addr, exc) -> None:
        """A request gunicorn could not parse, or an error before the app answered: the project's JSON error."""
        status = _PARSE_ERRORS.get(type(exc))
        if status is None and isinstance(exc, _BAD_REQUEST):
            status = 400
        if status is None:
            self.log.exception("Error handling request")
            status, body = 500, internal_error()
        else:
            self.log.warning("Invalid request from %s: %s", (addr or ("",))[0], exc)
            body = http_error(status).body()
        _send_error(client, status, body)

    # -- draining ------------------------------------------------------------------------------------------
    def handle_exit(self, sig, frame) -> None:
        """Start draining in the background (a second signal stops at once)."""
        if self._drain_started:
            super().handle_exit(sig, frame)
            return
        self._drain_started = True
        start_draining()
        # A thread: signal handlers must return at once.
        threading.Thread(target=self._drain_then_exit, args=(sig, frame), daemon=True).start()

    def _drain_then_exit(self, sig, frame) -> None:
        time.sleep(self._drain_delay_s)
        with self._lock:  # the lock gthread holds around every change to its poller
            for listener in self.sockets:
                self.poller.unregister(listener)
        time.sleep(SETTLE_S)
        super().handle_exit(sig, frame)


def _expects_continue(req) -> bool:
    return any(name == "EXPECT" and value.lower() == "100-continue" for name, value in req.headers)


def _declared_length(req) -> int | None:
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            return int(value) if value.isdigit() else None
    return None


def _send_error(sock: socket.socket, status: int, body: dict) -> None:
    """Write a whole error answer in the project's shape, closing the connection (a client gone is no error)."""
    payload = jsonio.dumps(body)
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: {jsonio.JSON_MEDIA_TYPE}\r\nContent-Length: {len(payload)}\r\n\r\n")  # fmt: skip
    with contextlib.suppress(OSError):
        util.write_nonblock(sock, head.encode("latin-1") + payload)


def _closing_on_request(start_response):
    """``start_response`` that honours the app's ``Connection: close`` (gunicorn drops hop-by-hop headers an app
    sets): the service answers a request whose body it did not read (413, 408) so, and gunicorn would otherwise
    wait for that body to find the next request."""
    response = start_response.__self__  # gunicorn's Response, whose start_response this is

    def start(status, headers, exc_info=None):
        if any(name.lower() == "connection" and value.lower() == "close" for name, value in headers):
            response.force_close()
        return start_response(status, headers, exc_info)

    return start
