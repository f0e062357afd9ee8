"""Simulated inference cost: a wait (a remote accelerator) and optional CPU burn (local compute)."""

from __future__ import annotations

import random
import time


class InferenceCost:
    """Draws each request's simulated wait and burns its CPU time; the stacks do the waiting."""

    def __init__(self, wait_min_ms: float, wait_max_ms: float, cpu_ms: float, rng: random.Random) -> None:
        if not 0 <= wait_min_ms <= wait_max_ms:
            raise ValueError("need 0 <= wait_min_ms <= wait_max_ms")
        self._min_s = wait_min_ms / 1000
        self._max_s = wait_max_ms / 1000
        self._cpu_s = cpu_ms / 1000
        self._rng = rng

    def wait_s(self) -> float:
        """A wait drawn uniformly from [min, max]; 0 when the bounds are 0."""
        if self._max_s == 0:
            return 0.0
        return self._rng.uniform(self._min_s, self._max_s)

    def burn_cpu(self) -> None:
        """Spin on this thread's CPU clock for the configured time (no-op when 0)."""
        if self._cpu_s <= 0:
            return
        # thread_time counts CPU actually given to this thread: under contention the
        # burn takes longer in wall time, as real compute would.
        deadline = time.thread_time() + self._cpu_s
        while time.thread_time() < deadline:
            pass
