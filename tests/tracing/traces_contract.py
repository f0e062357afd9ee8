"""One scoring request makes one trace on each stack, as real processes; twin files run these tests for each stack
(``test_traces_async.py``, ``test_traces_sync.py``).

Each service prints its spans with the SDK's console exporter; the edge exports its own over OTLP/HTTP.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path

import pytest
import requests

from reference.api import predict_path
from tests.tracing.spans import Span
from tests.tracing.traced_stack import traced_stack

SPANS_PER_REQUEST = 6  # scoring's server span, the Redis read, two model calls, and each model's server span


@pytest.fixture(scope="module")
def traced(stack, redis_server, tmp_path_factory):
    with traced_stack(stack, redis_server, tmp_path_factory.mktemp(f"traced-{stack}")) as running:
        yield running


def of_trace(spans: list[Span], trace_id: str) -> list[Span]:
    return [s for s in spans if s.trace_id == trace_id]


def server_span(spans: list[Span], service: str) -> Span:
    (found,) = [s for s in spans if s.service == service and s.kind == "SERVER"]
    return found


def url_of(span: Span) -> str:
    """The URL a client span called (new and old semantic conventions)."""
    return str(span.attributes.get("url.full") or span.attributes.get("http.url"))


@pytest.fixture(scope="module")
def one_request(traced):
    """The spans of one scoring request that carried its caller's ``traceparent``, and that caller's ids."""
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    answer = requests.post(traced.direct_url(), json={"entity_id": "3"},
                           headers={"traceparent": f"00-{trace_id}-{caller}-01"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    spans = traced.wait(lambda found: len(of_trace(found, trace_id)) >= SPANS_PER_REQUEST)
    return of_trace(spans, trace_id), caller


def test_one_request_makes_one_trace_across_the_three_services(traced, one_request):
    spans, _ = one_request
    assert len(spans) == SPANS_PER_REQUEST
    assert {s.service for s in spans} == {traced.service(role) for role in ("scoring", "model_a", "model_b")}


def test_the_scoring_server_span_is_the_child_of_the_callers_span(traced, one_request):
    spans, caller = one_request
    scoring = server_span(spans, traced.service("scoring"))
    assert scoring.parent_id == caller
    assert scoring.name == f"POST {predict_path(traced.stack.stack)}"


def test_the_redis_read_and_both_model_calls_are_children_of_the_scoring_span(traced, one_request):
    spans, _ = one_request
    scoring = server_span(spans, traced.service("scoring"))
    children = [s for s in spans if s.parent_id == scoring.span_id]
    assert sorted((s.kind, s.name) for s in children) == [("CLIENT", "HMGET"), ("CLIENT", "POST"), ("CLIENT", "POST")]
    assert {s.service for s in children} == {traced.service("scoring")}


def test_each_model_server_span_is_the_child_of_the_call_that_reached_it(traced, one_request):
    spans, _ = one_request
    by_id = {s.span_id: s for s in spans}
    for role in ("model_a", "model_b"):
        served = server_span(spans, traced.service(role))
        call = by_id[served.parent_id]
        assert (call.service, call.kind) == (traced.service("scoring"), "CLIENT")
        assert f":{traced.stack.services[role].port}/" in url_of(call)


def test_the_two_model_calls_overlap_in_time(traced, one_request):
    # Both stacks call the models at once: the async stack on one event loop (asyncio.gather), the sync stack on two
    # threads (one model on a pool thread, the other on the request's own).
    spans, _ = one_request
    first, second = [s for s in spans if s.kind == "CLIENT" and s.name == "POST"]
    assert first.overlaps(second)


def test_without_a_traceparent_the_scoring_span_is_the_root_of_the_trace(traced):
    before = {s.span_id for s in traced.spans()}
    answer = requests.post(traced.direct_url(), json={"entity_id": "4"}, timeout=10)
    assert answer.status_code == 200, answer.text
    scoring = traced.service("scoring")

    def new_root(spans: list[Span]) -> Span | None:
        found = [s for s in spans if s.span_id not in before and s.service == scoring and s.kind == "SERVER"]
        return found[0] if found else None

    spans = traced.wait(lambda found: (r := new_root(found)) is not None
                        and len(of_trace(found, r.trace_id)) >= SPANS_PER_REQUEST)  # fmt: skip
    root = new_root(spans)
    assert root is not None
    assert root.parent_id is None
    assert {s.service for s in of_trace(spans, root.trace_id)} == {scoring, traced.service("model_a"),
                                                                   traced.service("model_b")}  # fmt: skip


def test_through_the_edge_the_edges_span_is_the_root_and_the_scoring_span_its_child(traced):
    answer = requests.post(traced.edge_predict_url(), json={"entity_id": "5"}, timeout=10)
    assert answer.status_code == 200, answer.text
    edge = f"{traced.stack.stack}-edge"

    def edge_trace(spans: list[Span]) -> list[Span]:
        roots = [s for s in spans if s.service == edge and predict_path(traced.stack.stack) in url_of(s)]
        return of_trace(spans, roots[0].trace_id) if roots else []

    spans = edge_trace(traced.wait(lambda found: len(edge_trace(found)) >= SPANS_PER_REQUEST + 1))
    if out := os.environ.get("TRACES_OUT"):  # doc/tracing.md's figures are drawn from these (benchmark.report)
        path = Path(out) / f"{traced.stack.stack}-trace.json"
        path.write_text(json.dumps([asdict(s) for s in sorted(spans, key=lambda s: s.start_ns)], indent=1) + "\n")
    (root,) = [s for s in spans if s.service == edge]
    scoring = server_span(spans, traced.service("scoring"))
    assert root.parent_id is None
    assert scoring.parent_id == root.span_id
    assert len(spans) == SPANS_PER_REQUEST + 1
