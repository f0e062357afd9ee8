"""Job mode on the scoring service, shared by both stacks: what a submission is, and where its job is read."""

from __future__ import annotations

from api_scoring.payloads import parse_score_body
from job_queue.record import Submission
from job_queue.schema import validate_idempotency_key
from service_runtime.core import jsonio
from service_runtime.core.context import RequestContext
from service_runtime.core.topology import Stack, job_path

LOCATION = "Location"


def submission(raw: bytes, idempotency_key: str | None, ctx: RequestContext) -> Submission:
    """A job from a predict body: parsed and checked as the predict route does (the same 4xx answers), and stored
    in its canonical JSON, which the worker parses again with the same parser (so a resubmission that differs
    only in spacing is the same request)."""
    request = parse_score_body(raw)
    canonical = {"entity_id": request.entity_id} if request.entity_id is not None else list(request.features or ())
    return Submission(jsonio.dumps(canonical), validate_idempotency_key(idempotency_key), ctx.trace.traceparent())


def location(stack: Stack, job_id: str) -> dict[str, str]:
    """The ``Location`` header of a submission's answer: where its job is read."""
    return {LOCATION: job_path(stack, job_id)}
