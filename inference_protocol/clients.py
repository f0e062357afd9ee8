"""What the scoring service's protocol clients of both stacks share: the gRPC channel's options, each call's
metadata, the answer as a ``Prediction``, and how a failure is told.

One channel per model per worker, opened with the worker's other clients and closed with them. A channel
reconnects by itself after its model restarts; its backoff is capped at a second (gRPC's default grows to two
minutes), and calls made while it is disconnected fail at once (``wait_for_ready`` off), so a model that is down
costs a degraded answer, not a wait, exactly as over REST. There are no retries, as over REST.
"""

from __future__ import annotations

import logging

from inference_protocol.messages import REQUEST_ID_KEY
from inference_protocol.rest import Answer
from reference.api import Prediction
from reference.core import ApiError, unavailable
from reference.service import RequestContext

log = logging.getLogger(__name__)
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
    """The request's id, as the REST clients send it in a header."""
    return ((REQUEST_ID_KEY, ctx.request_id),)


def prediction(answer: Answer) -> Prediction:
    """An answer's first value as the reference's ``Prediction`` (a finite number); ``ValueError`` if it is not."""
    return Prediction(model=answer.model, version=answer.version, prediction=answer.value)


def failure(name: str, phase: str, reason: str) -> ApiError:
    """A 503 naming the model, as the reference's clients fail; logged where it happened, so that a failure under
    load can be explained afterwards."""
    log.warning("model call failed", extra={"model": name, "phase": phase, "reason": reason})
    return unavailable("model_unavailable", f"model {name!r} unavailable: {reason} ({phase})", [name])
