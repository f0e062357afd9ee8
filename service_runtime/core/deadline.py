"""The end-to-end deadline of one request: every downstream call gets what is left of it."""

from __future__ import annotations

import time

from service_runtime.core.errors import ApiError


class Deadline:
    """A point in time by which the request must be answered."""

    __slots__ = ("_at",)

    def __init__(self, budget_s: float, start: float | None = None) -> None:
        """``budget_s`` from ``start`` (a ``time.monotonic()`` value, the request's arrival), or from now."""
        self._at = (time.monotonic() if start is None else start) + budget_s

    @property
    def at(self) -> float:
        """The deadline as a ``time.monotonic()`` value (``inf`` when there is none)."""
        return self._at

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._at - time.monotonic())

    def wait_bound(self) -> float | None:
        """What is left, as a wait's timeout: ``None`` when there is no deadline (waits reject an infinite one)."""
        left = self.remaining()
        return None if left == float("inf") else left

    def timeout(self, cap_s: float) -> float:
        """The timeout for the next call: its own cap, or what is left of the budget if less."""
        left = self.remaining()
        if left <= 0:
            raise deadline_exceeded()
        return min(cap_s, left)


def deadline_exceeded() -> ApiError:
    """A 503 when the request's budget is spent before its work is done."""
    return ApiError(503, "deadline_exceeded", "the request's deadline passed before it could be answered")
