"""One stack of the reference traced, as real processes: its three services printing their spans to their logs
(``OTEL_TRACES_EXPORTER=console``), and an edge in front of its scoring service exporting its own over OTLP/HTTP to a
receiver the test runs (Envoy has no console exporter)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import requests

from reference.api import HEALTH_PATH, predict_path
from system_launcher.edge import EdgePlan, EdgeSettings, edge_argv, edge_config, find_envoy
from system_launcher.net import free_ports
from tests.reference.stack import Redis, Stack, _wait
from tests.tracing.spans import Receiver, Span, console_spans, otlp_receiver

ROLES = ("model_a", "model_b", "scoring")
TRACED = {
    "OTEL_TRACES_EXPORTER": "console",
    "OTEL_BSP_SCHEDULE_DELAY": "100",  # spans reach the log a tenth of a second after they end
    "SERVER_WORKERS": "1",
    # Model calls long enough that two made at once overlap whatever the machine's load delays of their start.
    "MODEL_WAIT_MIN_MS": "100",
    "MODEL_WAIT_MAX_MS": "100",
}
WAIT_S = 30.0  # for spans to be exported: the edge's tracer flushes every 5 s


@dataclass
class TracedStack:
    """The running services, their logs, the edge's URL, and what the edge exported."""

    stack: Stack
    logs: list[Path]
    edge_url: str
    receiver: Receiver

    def direct_url(self) -> str:
        """The scoring service's predict URL, the edge bypassed."""
        return self.stack.predict_url

    def edge_predict_url(self) -> str:
        return self.edge_url + predict_path(self.stack.stack)

    def service(self, role: str) -> str:
        """The ``service.name`` of a role's spans: its ``SERVER_NAME``."""
        return f"{self.stack.stack}-{role}"

    def spans(self) -> list[Span]:
        """Every span the services printed and the edge exported so far."""
        return console_spans(self.logs) + self.receiver.received()

    def wait(self, until: Callable[[list[Span]], bool]) -> list[Span]:
        """Every span so far, once ``until`` holds of them (or after ``WAIT_S``, as they are)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            found = self.spans()
            if until(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@contextmanager
def traced_stack(stack: str, redis_server: Redis, tmp: Path) -> Iterator[TracedStack]:
    """The three services of ``stack`` traced, and its edge, until the block ends."""
    with ExitStack() as cleanup:
        receiver = cleanup.enter_context(otlp_receiver())
        running = Stack(stack, redis_server)
        cleanup.callback(running.stop)
        for role in ROLES:
            running.start(role, tmp, **TRACED)
        edge_url = cleanup.enter_context(_edge(stack, running.services["scoring"].port, receiver, tmp))
        yield TracedStack(running, [tmp / f"{stack}-{role}.log" for role in ROLES], edge_url, receiver)


@contextmanager
def _edge(stack: str, upstream_port: int, receiver: Receiver, tmp: Path) -> Iterator[str]:
    """Envoy in front of the scoring service, its spans sent to ``receiver``."""
    listen, metrics = free_ports(2)
    plan = EdgePlan(stack=stack, listen=("127.0.0.1", listen), metrics=("127.0.0.1", metrics),  # type: ignore[arg-type]
                    admin_socket=str(tmp / "edge-admin.sock"), upstream=("127.0.0.1", upstream_port),
                    upstream_slots=16, deadline_s=4.0, max_request_bytes=65_536, upstream_idle_s=3.0,
                    traces_url=receiver.url + "/v1/traces")  # fmt: skip
    config = tmp / "edge.json"
    config.write_text(json.dumps(edge_config(plan, EdgeSettings())))
    with (tmp / "edge.log").open("wb") as log:
        process = subprocess.Popen(edge_argv(str(config), EdgeSettings(), find_envoy()), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{listen}"
    try:
        _wait(lambda: requests.get(url + HEALTH_PATH, timeout=1).status_code == 200, 30, process)
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
