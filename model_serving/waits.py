"""How long a request may wait for an accelerator's slot or for its batch: its deadline, and never unbounded."""

from __future__ import annotations

from reference.service import Deadline

# A request without a deadline (MODEL_DEADLINE_MS=0) still waits at most this long for a slot or its batch; then
# it is answered 503 deadline_exceeded like one whose deadline passed.
LONGEST_WAIT_S = 60.0


def wait_bound(deadline: Deadline) -> float:
    """What is left of ``deadline``, at most ``LONGEST_WAIT_S``: the timeout of a wait."""
    return min(deadline.remaining(), LONGEST_WAIT_S)
