"""Spans as the tests read them: from the JSON lines the console exporter prints into a service's log, and from the
OTLP/HTTP requests an exporter (the edge's, a service's) sends to a receiver the test runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

MAX_SPANS = 10_000  # a receiver keeps at most this many


@dataclass(frozen=True)
class Span:
    """One finished span: which service made it, what it is, where it sits in its trace, and when it ran."""

    service: str
    name: str
    kind: str  # SERVER, CLIENT, INTERNAL...
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str | None
    start_ns: int
    end_ns: int
    attributes: dict

    def overlaps(self, other: Span) -> bool:
        """True when each started before the other ended."""
        return self.start_ns < other.end_ns and other.start_ns < self.end_ns


def _ns(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def from_console(line: str) -> Span | None:
    """The span a line of the console exporter describes (``span.to_json(indent=None)``); None for any other line."""
    if not line.startswith("{") or '"context"' not in line:
        return None
    raw = json.loads(line)
    return Span(
        service=raw["resource"]["attributes"]["service.name"],
        name=raw["name"],
        kind=raw["kind"].removeprefix("SpanKind."),
        trace_id=raw["context"]["trace_id"].removeprefix("0x"),
        span_id=raw["context"]["span_id"].removeprefix("0x"),
        parent_id=raw["parent_id"].removeprefix("0x") if raw["parent_id"] else None,
        start_ns=_ns(raw["start_time"]),
        end_ns=_ns(raw["end_time"]),
        attributes=raw["attributes"],
    )


def console_spans(logs: Iterable[Path]) -> list[Span]:
    """Every span the console exporter printed into these logs."""
    return [span for log in logs for line in log.read_text().splitlines() if (span := from_console(line))]


def from_otlp(body: bytes) -> list[Span]:
    """The spans of one OTLP/HTTP export request (protobuf)."""
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(Span(
                    service=attributes.get("service.name", ""),
                    name=span.name,
                    kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes={a.key: a.value.string_value or a.value.int_value for a in span.attributes},
                ))  # fmt: skip
    return spans


class Receiver:
    """An OTLP/HTTP trace receiver on a free loopback port, keeping what it is sent (bounded)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """``OTEL_EXPORTER_OTLP_ENDPOINT`` for an exporter that sends here."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A receiver for as long as the block runs."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self._body()
            spans = from_otlp(body) if self.path == "/v1/traces" else []
            with receiver.lock:
                receiver.spans.extend(spans[: MAX_SPANS - len(receiver.spans)])
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":  # Envoy sends its spans chunked
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
