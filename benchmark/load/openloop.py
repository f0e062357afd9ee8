"""An open-loop HTTP/1.1 load generator: requests leave on a schedule, whatever the server does, and each
latency is measured from the moment its request was due, so a stall shows in the tail (no coordinated omission).

Two threads share a pool of keep-alive connections. The sender sleeps until each request is due
(``time.sleep``: sub-millisecond, unlike an event loop's millisecond timers) and sends it on an idle
connection, opening one when none is idle (up to ``max_connections``, then queueing in the client, the wait
counted). The receiver waits on epoll, parses answers with httptools, checks each against its exact expected
bytes (benchmark/load/answers.py) and records the latency in an HDR histogram. A closed-loop mode (a fixed
number of connections, each sending its next request when the answer comes, as wrk and Locust users do) runs
on the same code, so the two can be compared.

Run it as a command: ``python -m benchmark.load.openloop --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import select
import socket
import sys
import threading
import time
from array import array
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from benchmark.load.answers import OK, WRONG, Answers
from benchmark.load.latency import Latencies
from benchmark.load.schedule import PATTERNS, arrivals
from benchmark.load.table import render
from system_launcher.procfs import group_cpu_s

# Kinds of failure besides HTTP status codes (which are counted by code).
TIMEOUT, CONNECT, CLOSED, MALFORMED, OVERFLOW = "timeout", "connect", "closed", "malformed", "overflow"
SWEEP_S = 0.05  # how often the receiver looks for requests past their timeout
PR_SET_TIMERSLACK = 29


@dataclass(frozen=True)
class Target:
    """Where requests go: host, port and the predict path."""

    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        """``http://host:port/path`` (plain HTTP only)."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL with a host, got {url!r}")
        return cls(parts.hostname, parts.port or 80, parts.path or "/")


@dataclass(frozen=True)
class Plan:
    """What to send: the arrival pattern and rate (open loop) or a number of connections (closed loop)."""

    duration_s: float
    rate: float = 0.0  # requests a second (open loop)
    pattern: str = "constant"
    closed_connections: int = 0  # > 0: closed loop on this many connections instead
    warmup_s: float = 0.0  # sent but not recorded
    timeout_s: float = 10.0  # from the moment a request was due to the end of its answer
    max_connections: int = 1024
    max_backlog: int = 100_000  # requests waiting in the client for a connection, beyond which they are dropped
    seed: int = 42
    period_s: float = 1.0  # lockstep: seconds between bursts

    @property
    def closed(self) -> bool:
        """Whether this is a closed-loop run."""
        return self.closed_connections > 0


class Connection:
    """One keep-alive connection and the request in flight on it (at most one: no pipelining)."""

    __slots__ = ("body", "complete", "due", "entity", "keep_alive", "parser", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = True
        self.due = 0.0  # when its request was due (perf_counter); 0 when idle
        self.entity = -1

    def on_body(self, chunk: bytes) -> None:  # httptools callback
        self.body.append(chunk)

    def on_message_complete(self) -> None:  # httptools callback
        # Only known here: once the message is complete the parser has already reset this flag.
        self.keep_alive = self.parser.should_keep_alive()
        self.complete = True


@dataclass
class Tally:
    """What happened to the recorded requests: raw latencies in seconds, histogrammed after the run (recording
    into an HDR histogram costs ~2 µs of Python a value, CPU better not taken from the stack under test)."""

    latencies: array = field(default_factory=lambda: array("d"))
    send_lag: array = field(default_factory=lambda: array("d"))  # how late the sender was: its own precision
    outcomes: Counter = field(default_factory=Counter)
    queued_in_client: int = 0  # requests that waited for a connection (max_connections reached)


def histogram(seconds: array) -> Latencies:
    """An HDR histogram of raw latencies."""
    latencies = Latencies()
    for value in seconds:
        latencies.record(value)
    return latencies


class LoadGenerator:
    """One run of a ``Plan`` against a ``Target``; ``run()`` returns its result as a dict."""

    def __init__(self, target: Target, plan: Plan, answers: Answers, progress=None, stack_cpu=None) -> None:
        self.target, self.plan, self.answers = target, plan, answers
        self.progress = progress  # called with a line every few seconds, or None
        # CPU seconds used so far by the processes under test, or None: read when recording starts and at the end.
        self.stack_cpu = stack_cpu
        self.tally = Tally()
        self._lock = threading.Lock()  # the pool: idle connections, backlog, counts
        self._tally_lock = threading.Lock()  # outcomes are counted by both threads
        self._idle: deque[Connection] = deque()
        self._backlog: deque[tuple[float, int]] = deque()
        self._by_fd: dict[int, Connection] = {}
        self._open = 0
        self._opened = 0
        self._epoll = select.epoll()
        self._sending_done = threading.Event()
        self._start = 0.0
        self._record_from = 0.0
        self._sent = 0

    # -- the run ------------------------------------------------------------------------------------------
    def run(self) -> dict:
        """Send the whole plan, wait (bounded) for the last answers, close everything, return the result."""
        _tighten_timers()
        requests = self.answers.requests  # computed before the clock starts
        _ = self.answers.bodies
        receiver = threading.Thread(target=self._receive, name="receiver", daemon=True)
        self._start = time.perf_counter() + 0.05
        self._record_from = self._start + self.plan.warmup_s
        receiver.start()
        cpu_at_record = None
        self._stack_cpu_at_record = None
        try:
            order = self.answers.order()
            if self.plan.closed:
                cpu_at_record = self._run_closed(requests, order)
            else:
                schedule = arrivals(self.plan.pattern, self.plan.rate, self.plan.warmup_s + self.plan.duration_s,
                                    self.plan.seed, self.plan.period_s)  # fmt: skip
                cpu_at_record = self._run_open(schedule, requests, order)
        finally:
            self._sending_done.set()
            receiver.join(timeout=self.plan.timeout_s + 5)
            self._close_all()
        cpu_s = _cpu_s() - (cpu_at_record or _cpu_s())
        stack_cpu_s = self.stack_cpu() - self._stack_cpu_at_record if self._stack_cpu_at_record is not None else None
        return self._result(cpu_s, stack_cpu_s)

    def _run_open(self, schedule: Iterable[float], requests: list[bytes], order) -> float | None:
        cpu_at_record = None
        last_progress = self._start
        entities = self.answers.entities
        for offset in schedule:
            due = self._start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter()
            if cpu_at_record is None and due >= self._record_from:
                cpu_at_record = self._mark_record_start()
            if due >= self._record_from:
                self.tally.send_lag.append(now - due)
            self._dispatch(due, order.randrange(entities), requests)
            if self.progress and now - last_progress >= 5:
                last_progress = now
                self.progress(self._progress_line(now))
        return cpu_at_record

    def _run_closed(self, requests: list[bytes], order) -> float:
        # Each connection's first request; the receiver sends every next one the moment an answer arrives.
        self._order, self._requests = order, requests
        for _ in range(self.plan.closed_connections):
            self._replace_closed()
        if (wait := self._record_from - time.perf_counter()) > 0:
            time.sleep(wait)
        cpu_at_record = self._mark_record_start()
        ends = self._record_from + self.plan.duration_s
        while (left := ends - time.perf_counter()) > 0:
            time.sleep(min(left, 5))
            if self.progress and left > 5:
                self.progress(self._progress_line(time.perf_counter()))
        return cpu_at_record

    def _mark_record_start(self) -> float:
        """Read the CPU counters when recording starts; return the generator's own."""
        if self.stack_cpu is not None:
            self._stack_cpu_at_record = self.stack_cpu()
        return _cpu_s()

    def _dispatch(self, due: float, entity: int, requests: list[bytes]) -> None:
        with self._lock:
            conn = self._idle.popleft() if self._idle else None
            opening = conn is None and self._open < self.plan.max_connections
            if opening:
                self._open += 1
            elif conn is None:
                if len(self._backlog) < self.plan.max_backlog:
                    self._backlog.append((due, entity))
                    if due >= self._record_from:
                        self.tally.queued_in_client += 1
                else:
                    self._fail_due(due, OVERFLOW)
                return
        if opening:
            conn = self._connect(due)
            if conn is None:
                return
        self._send(conn, due, entity, requests)

    def _connect(self, due: float) -> Connection | None:
        """A new connection, its slot in ``_open`` already taken by the caller (given back on failure)."""
        try:
            sock = socket.create_connection((self.target.host, self.target.port), timeout=self.plan.timeout_s)
        except OSError:
            with self._lock:
                self._open -= 1
            self._fail_due(due, CONNECT)
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking, without a timeout: with one, CPython polls before every send and recv (a syscall each); recv
        # is only called once epoll says data is there, and a request fits in the socket's buffer.
        sock.settimeout(None)
        conn = Connection(sock)
        self._by_fd[sock.fileno()] = conn
        self._epoll.register(sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        with self._lock:
            self._opened += 1
        return conn

    def _send(self, conn: Connection, due: float, entity: int, requests: list[bytes]) -> None:
        # The connection's state is set before the bytes leave: the answer may be parsed before sendall returns.
        conn.due, conn.entity, conn.complete, conn.body = due, entity, False, []
        try:
            conn.sock.sendall(requests[entity])
        except OSError:
            self._drop(conn, CLOSED)
        else:
            self._sent += 1

    # -- the receiver thread ------------------------------------------------------------------------------
    def _receive(self) -> None:
        next_sweep = time.perf_counter() + SWEEP_S
        while True:
            events = self._epoll.poll(SWEEP_S)
            now = time.perf_counter()
            for fd, _mask in events:
                conn = self._by_fd.get(fd)
                if conn is not None:
                    self._read(conn, now)
            if now >= next_sweep:
                next_sweep = now + SWEEP_S
                self._sweep(now)
                if self._sending_done.is_set() and self._in_flight() == 0:
                    return

    def _read(self, conn: Connection, now: float) -> None:
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            # An idle connection the server closed (its keep-alive timeout) is not a failure.
            self._drop(conn, CLOSED if conn.due else None)
            return
        try:
            conn.parser.feed_data(data)
        except httptools.HttpParserError:
            self._drop(conn, MALFORMED)
            return
        if conn.complete:
            self._answered(conn, now)

    def _answered(self, conn: Connection, now: float) -> None:
        due, entity = conn.due, conn.entity
        verdict = self.answers.verdict(entity, conn.parser.get_status_code(), b"".join(conn.body))
        if self._record_from <= due < self._record_from + self.plan.duration_s:
            with self._tally_lock:
                self.tally.latencies.append(now - due)
                self.tally.outcomes[verdict] += 1
        conn.due = 0.0
        if not conn.keep_alive:
            self._drop(conn, None)
            if self.plan.closed and not self._sending_done.is_set():
                self._replace_closed()
            return
        if self.plan.closed:
            if not self._sending_done.is_set() and now < self._record_from + self.plan.duration_s:
                self._send(conn, now, self._order.randrange(self.answers.entities), self._requests)
            return
        with self._lock:
            waiting = self._backlog.popleft() if self._backlog else None
            if waiting is None:
                self._idle.append(conn)
        if waiting is not None:
            self._send(conn, waiting[0], waiting[1], self.answers.requests)

    def _replace_closed(self) -> None:
        with self._lock:
            self._open += 1
        conn = self._connect(time.perf_counter())
        if conn is not None:
            self._send(conn, time.perf_counter(), self._order.randrange(self.answers.entities), self._requests)

    def _sweep(self, now: float) -> None:
        """Fail requests past their timeout, on connections and in the client's backlog."""
        limit = now - self.plan.timeout_s
        for conn in list(self._by_fd.values()):
            if conn.due and conn.due < limit:
                self._drop(conn, TIMEOUT)
        with self._lock:
            while self._backlog and self._backlog[0][0] < limit:
                due, _ = self._backlog.popleft()
                self._fail_due(due, TIMEOUT)

    def _in_flight(self) -> int:
        with self._lock:
            backlog = len(self._backlog)
        return backlog + sum(1 for conn in list(self._by_fd.values()) if conn.due)

    # -- failures and closing -----------------------------------------------------------------------------
    def _fail_due(self, due: float, kind: str) -> None:
        if self._record_from <= due < self._record_from + self.plan.duration_s:
            # A request that got no answer took at least until now: it counts in the latencies as such.
            with self._tally_lock:
                self.tally.outcomes[kind] += 1
                self.tally.latencies.append(time.perf_counter() - due)

    def _drop(self, conn: Connection, kind: str | None) -> None:
        """Close a connection; ``kind``: the failure of the request in flight on it (None: nothing lost)."""
        if kind is not None and conn.due:
            self._fail_due(conn.due, kind)
        conn.due = 0.0
        fd = conn.sock.fileno()
        if self._by_fd.pop(fd, None) is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        conn.sock.close()
        with self._lock:
            self._open -= 1
            with contextlib.suppress(ValueError):
                self._idle.remove(conn)

    def _close_all(self) -> None:
        for conn in list(self._by_fd.values()):
            self._drop(conn, TIMEOUT)
        with self._lock:
            backlog, self._backlog = list(self._backlog), deque()
        for due, _ in backlog:
            self._fail_due(due, TIMEOUT)
        self._epoll.close()

    # -- the result ---------------------------------------------------------------------------------------
    def _progress_line(self, now: float) -> str:
        done = len(self.tally.latencies)
        return (f"{now - self._start:6.1f}s  sent {self._sent}  recorded {done}  open connections {self._open}  "
                f"errors {sum(n for k, n in self.tally.outcomes.items() if k != OK)}")  # fmt: skip

    def _result(self, cpu_s: float, stack_cpu_s: float | None) -> dict:
        outcomes = dict(self.tally.outcomes)
        recorded = sum(outcomes.values())
        ok = outcomes.get(OK, 0)
        errors = recorded - ok - outcomes.get("degraded", 0)
        plan = self.plan
        latencies = histogram(self.tally.latencies)
        return {
            "target": f"http://{self.target.host}:{self.target.port}{self.target.path}",
            "mode": "closed" if plan.closed else "open",
            "pattern": None if plan.closed else plan.pattern,
            "offered_rps": None if plan.closed else plan.rate,
            "connections": plan.closed_connections if plan.closed else None,
            "duration_s": plan.duration_s,
            "warmup_s": plan.warmup_s,
            "requests": recorded,
            "ok_rps": round(ok / plan.duration_s, 2),
            "outcomes": outcomes,
            "errors": errors,
            "wrong": outcomes.get(WRONG, 0),
            "error_rate": round(errors / recorded, 6) if recorded else None,
            "latency": latencies.summary(),
            "histogram": latencies.encoded(),
            "send_lag": None if plan.closed else histogram(self.tally.send_lag).summary(),
            "queued_in_client": self.tally.queued_in_client,
            "connections_opened": self._opened,
            # From the first recorded request to the last answer: what the generator took from the cores meanwhile.
            "client_cpu_ms_per_request": round(cpu_s * 1000 / max(1, recorded), 4),
            "stack_cpu_ms_per_request": round(stack_cpu_s * 1000 / max(1, recorded), 4) if stack_cpu_s else None,
            "client_cpu": sorted(os.sched_getaffinity(0)),
        }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tighten_timers() -> None:
    """Sub-millisecond sleeps and a quick hand-over of the GIL between the two threads."""
    # Linux delays a sleeping thread's wake-up by up to its timer slack (50 µs by default); 1 µs here.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    # The sender waits at most this long for the GIL while the receiver parses (default: 5 ms).
    sys.setswitchinterval(0.0005)


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, needed + 64))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(prog="python -m benchmark.load.openloop", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    cli.add_argument("url", help="the predict URL, e.g. http://127.0.0.1:8001/api/v1/ml/async/predict")
    cli.add_argument("--rate", type=float, default=100.0, help="requests a second, open loop (default: %(default)s)")
    cli.add_argument("--pattern", choices=PATTERNS, default="constant",
                     help="arrivals: evenly spaced, Poisson, or lockstep bursts of rate x period requests "
                     "(default: %(default)s)")  # fmt: skip
    cli.add_argument("--period-s", type=float, default=1.0, help="lockstep: seconds between bursts (default: 1)")
    cli.add_argument("--closed", type=int, default=0, metavar="CONNECTIONS",
                     help="closed loop on this many connections, as wrk does (default: 0: open)")  # fmt: skip
    cli.add_argument("--duration-s", type=float, default=10.0, help="seconds recorded (default: %(default)s)")
    cli.add_argument("--warmup-s", type=float, default=0.0, help="seconds sent first, not recorded (default: 0)")
    cli.add_argument("--timeout-s", type=float, default=10.0,
                     help="a request not answered this long after it was due fails (default: %(default)s)")  # fmt: skip
    cli.add_argument("--max-connections", type=int, default=1024,
                     help="connections open at once; beyond, requests wait in the client (default: 1024)")  # fmt: skip
    cli.add_argument("--entities", type=int, default=10_000, help="seeded entity ids 0..N-1 (default: %(default)s)")
    cli.add_argument("--seed", type=int, default=42, help="seed of the entity order and of Poisson gaps (default: 42)")
    cli.add_argument("--stack-pgids", default="", metavar="PGID,...",
                     help="process groups under test, to report their CPU per request (default: none)")  # fmt: skip
    cli.add_argument("--cpu", type=int, default=None, help="pin the generator to this core (default: any)")
    cli.add_argument("--out", default=None, help="also write the whole result as JSON here (default: none)")
    cli.add_argument("--json", action="store_true", help="print the result as JSON instead of the table (default: off)")
    cli.add_argument("--quiet", action="store_true", help="no progress lines on stderr (default: off)")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run one plan and write its result."""
    args = parser().parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    target = Target.from_url(args.url)
    plan = Plan(duration_s=args.duration_s, rate=args.rate, pattern=args.pattern, closed_connections=args.closed,
                warmup_s=args.warmup_s, timeout_s=args.timeout_s, max_connections=args.max_connections,
                seed=args.seed, period_s=args.period_s)  # fmt: skip
    _raise_fd_limit(plan.max_connections)
    answers = Answers(f"{target.host}:{target.port}", target.path, entities=args.entities, seed=args.seed)
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    pgids = {int(p) for p in args.stack_pgids.split(",") if p.strip()}
    stack_cpu = (lambda: group_cpu_s(pgids)) if pgids else None
    result = LoadGenerator(target, plan, answers, progress=say, stack_cpu=stack_cpu).run()
    if args.out:
        with open(args.out, "w") as out:
            out.write(json.dumps(result) + "\n")
    if args.json:
        print(json.dumps(result))
    elif not args.out or not args.quiet:  # the experiments read --out quietly; a person reads the table
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
