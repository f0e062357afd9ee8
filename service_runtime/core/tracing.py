"""Request ids and W3C trace context: accepted when valid, generated otherwise, passed downstream."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

REQUEST_ID_HEADER = "X-Request-ID"
TRACEPARENT_HEADER = "traceparent"

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# version 00: trace-id (32 hex, not all zero) - parent-id (16 hex, not all zero) - flags (2 hex).
_TRACEPARENT = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-([0-9a-f]{2})")


@dataclass(frozen=True, slots=True)
class Trace:
    """The ids of one request: its request id, and its W3C trace id, own span id and flags."""

    request_id: str
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def from_headers(cls, request_id: str | None, traceparent: str | None) -> Trace:
        """Continue the caller's request id and trace when they are well-formed, else start new ones."""
        match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
        trace_id, flags = match.groups() if match else (_random_hex(128), "01")
        # A new request id is the trace id: one id to grep for, and one fewer to generate.
        rid = request_id if request_id and _REQUEST_ID.fullmatch(request_id) else trace_id
        return cls(request_id=rid, trace_id=trace_id, span_id=_random_hex(64), flags=flags)

    def traceparent(self) -> str:
        """The ``traceparent`` to send downstream: same trace, this request's span as parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def outbound_headers(self) -> dict[str, str]:
        """Headers that carry this request's ids to the services it calls."""
        return {REQUEST_ID_HEADER: self.request_id, TRACEPARENT_HEADER: self.traceparent()}


def _random_hex(bits: int) -> str:
    # Ids need to be unique, not secret: the Mersenne Twister (reseeded in every forked worker)
    # costs no system call, where secrets.token_hex asks the kernel each time. Never all zeros.
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"
