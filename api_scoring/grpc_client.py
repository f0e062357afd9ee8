"""What the async and sync gRPC model clients share: the channel's options, the call's metadata, failure reasons.

One channel per model per worker, built with the worker's other clients and closed with them. A channel
reconnects by itself after its model restarts; its backoff is capped at a second (gRPC's default grows to two
minutes), and calls made while it is disconnected fail at once (``wait_for_ready`` off), so a model that is
down costs a degraded answer, not a wait, exactly as over REST. There are no retries, as over REST.
"""

from __future__ import annotations

import grpc

from service_runtime.core.context import RequestContext
from service_runtime.rpc.server import REQUEST_ID_KEY, TRACEPARENT_KEY

# A request is one row of features: a few hundred bytes.
MAX_REQUEST_BYTES = 16_384


def channel_options(max_answer_bytes: int) -> list[tuple[str, int]]:
    """A model channel's arguments: bounded answers, no retries, a short reconnect backoff."""
    return [
        ("grpc.max_receive_message_length", max_answer_bytes),
        ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
        ("grpc.enable_retries", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def call_metadata(ctx: RequestContext) -> tuple[tuple[str, str], ...]:
    """The request's ids, as the REST clients send them in headers."""
    return ((REQUEST_ID_KEY, ctx.trace.request_id), (TRACEPARENT_KEY, ctx.trace.traceparent()))


def failure_reason(code: grpc.StatusCode) -> str:
    """Why a call failed, for the 503's message and the upstream error metric: ``grpc_DEADLINE_EXCEEDED``."""
    return f"grpc_{code.name}"
