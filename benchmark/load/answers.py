"""What a load generator sends to a predict route and how it judges each answer, computed before the run.

Every answer is checked to the byte: 200 with the entity's exact expected body is ``ok``; 200 with one of its
exact degraded bodies (one model left out) is ``degraded``; any other 200 is ``wrong``; other statuses are
counted by code. Nothing is parsed on the hot path: an answer is compared with bytes computed beforehand.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cached_property

from benchmark.load.expected import degraded_bodies, expected_bodies

OK, DEGRADED, WRONG = "ok", "degraded", "wrong"


def predict_request(host: str, path: str, entity_id: str) -> bytes:
    """The HTTP/1.1 request (keep-alive) scoring one entity."""
    body = json.dumps({"entity_id": entity_id}, separators=(",", ":")).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


@dataclass
class Answers:
    """The requests for ``entities`` seeded ids, their expected answers, and a seeded order to send them in."""

    host: str
    path: str
    entities: int = 10_000
    seed: int = 42
    _degraded: dict[int, tuple[bytes, ...]] = field(default_factory=dict)

    @cached_property
    def requests(self) -> list[bytes]:
        """The request of entity i, for every i."""
        return [predict_request(self.host, self.path, str(i)) for i in range(self.entities)]

    @cached_property
    def bodies(self) -> list[bytes]:
        """The exact body owed for entity i."""
        return expected_bodies([str(i) for i in range(self.entities)])

    def order(self) -> random.Random:
        """The seeded source of which entity each request scores (the same sequence on every run)."""
        return random.Random(self.seed)

    def verdict(self, entity: int, status: int, body: bytes) -> str:
        """``ok``, ``degraded``, ``wrong`` or the status code of a non-200 answer."""
        if status == 200:
            if body == self.bodies[entity]:
                return OK
            if entity not in self._degraded:  # rare: computed when first needed
                self._degraded[entity] = degraded_bodies(str(entity))
            return DEGRADED if body in self._degraded[entity] else WRONG
        return str(status)
