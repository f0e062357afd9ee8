"""A steady closed-loop load for fault tests and soak runs: threads scoring random entities, every answer kept."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import orjson
import requests


@dataclass
class Result:
    """One request: when it started (monotonic), how long it took, its status and body, and how long the service
    says it took (``Server-Timing``'s total; None when something else answered, such as the edge)."""

    started: float
    seconds: float
    status: int | str
    body: dict
    served_s: float | None = None


def served_seconds(server_timing: str | None) -> float | None:
    """The ``total`` of a ``Server-Timing`` header (``redis;dur=0.4, ..., total;dur=48.9``), in seconds."""
    for metric in (server_timing or "").split(","):
        name, _, duration = metric.strip().partition(";dur=")
        if name == "total":
            try:
                return float(duration) / 1000
            except ValueError:
                return None
    return None


@dataclass
class Load:
    """``threads`` closed-loop clients against ``url`` until stopped (bounded by ``max_s``)."""

    url: str
    threads: int = 4
    max_s: float = 60.0
    timeout_s: float = 5.0
    fresh_connections: bool = False  # send "Connection: close": no keep-alive reuse across a restart
    # Resend a request whose connection failed before any answer, as a load balancer does
    # (scoring is idempotent). Retries are counted; 0 means every connection error is a failure.
    connection_retries: int = 0
    retried: int = 0
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending and wait for the in-flight requests."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.timeout_s + 1)

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        headers = {"Content-Type": "application/json"} | ({"Connection": "close"} if self.fresh_connections else {})
        deadline = time.monotonic() + self.max_s
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < deadline:
                body = orjson.dumps({"entity_id": str(rng.randrange(10_000))})
                started = time.monotonic()
                result = self._send(session, body, headers, started)
                with self._lock:
                    self.results.append(result)

    def _send(self, session: requests.Session, body: bytes, headers: dict, started: float) -> Result:
        for attempt in range(self.connection_retries + 1):
            try:
                response = session.post(self.url, data=body, headers=headers, timeout=self.timeout_s)
                served = served_seconds(response.headers.get("Server-Timing"))
                return Result(started, time.monotonic() - started, response.status_code, response.json(), served)
            except requests.ConnectionError as exc:
                if attempt == self.connection_retries:
                    return Result(started, time.monotonic() - started, type(exc).__name__, {})
                with self._lock:
                    self.retried += 1
            except (requests.RequestException, ValueError) as exc:
                return Result(started, time.monotonic() - started, type(exc).__name__, {})
        raise AssertionError("unreachable")

    def since(self, moment: float) -> list[Result]:
        """Results of requests started at or after ``moment``."""
        with self._lock:
            return [r for r in self.results if r.started >= moment]

    def wait_for(self, predicate, timeout_s: float) -> float | None:
        """Seconds until a request started after now satisfies ``predicate`` (None if none in time)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if any(predicate(r) for r in self.since(start)):
                return time.monotonic() - start
            time.sleep(0.05)
        return None


def healthy(result: Result) -> bool:
    """A full answer: 200 and no model left out."""
    return result.status == 200 and result.body.get("degraded") == []


def recovery_seconds(load: Load, since: float, timeout_s: float = 10.0, streak: int = 20) -> float | None:
    """Seconds after ``since`` until ``streak`` consecutive requests are healthy (None if not within the timeout)."""
    while time.monotonic() - since < timeout_s:
        run = 0
        for result in sorted(load.since(since), key=lambda r: r.started):
            run = run + 1 if healthy(result) else 0
            if run >= streak:
                return result.started - since
        time.sleep(0.1)
    return None
