"""Request ids and W3C trace context: accepted when valid, generated otherwise, passed downstream."""

from __future__ import annotations

import re
import secrets
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
        rid = request_id if request_id and _REQUEST_ID.fullmatch(request_id) else secrets.token_hex(16)
        match = _TRACEPARENT.fullmatch(traceparent) if traceparent else None
        trace_id, flags = match.groups() if match else (secrets.token_hex(16), "01")
        return cls(request_id=rid, trace_id=trace_id, span_id=secrets.token_hex(8), flags=flags)

    def traceparent(self) -> str:
        """The ``traceparent`` to send downstream: same trace, this request's span as parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def outbound_headers(self) -> dict[str, str]:
        """Headers that carry this request's ids to the services it calls."""
        return {REQUEST_ID_HEADER: self.request_id, TRACEPARENT_HEADER: self.traceparent()}
