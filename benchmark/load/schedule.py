"""When an open-loop generator sends: seconds from the start of a run, for each arrival pattern, seeded.

Pure functions yielding offsets lazily (a long run at a high rate never holds its whole schedule in memory).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Literal

Pattern = Literal["constant", "poisson", "lockstep"]
PATTERNS: tuple[Pattern, ...] = ("constant", "poisson", "lockstep")


def constant(rate: float, duration_s: float) -> Iterator[float]:
    """One request every ``1 / rate`` seconds."""
    count = int(rate * duration_s)
    return (i / rate for i in range(count))


def poisson(rate: float, duration_s: float, seed: int) -> Iterator[float]:
    """Independent arrivals at ``rate`` on average: exponential gaps, as many users acting on their own make."""
    rng = random.Random(seed)
    at = rng.expovariate(rate)
    while at < duration_s:
        yield at
        at += rng.expovariate(rate)


def lockstep(users: int, period_s: float, duration_s: float) -> Iterator[float]:
    """``users`` requests at the same instant every ``period_s``: Locust users whose ``constant_pacing(1)`` tasks
    all start together, and so fire together every second."""
    ticks = int(duration_s / period_s)
    return (tick * period_s for tick in range(ticks) for _ in range(users))


def arrivals(
    pattern: Pattern, rate: float, duration_s: float, seed: int = 42, period_s: float = 1.0
) -> Iterator[float]:
    """The offsets of ``pattern`` at ``rate`` requests a second on average (lockstep: ``rate * period_s`` users)."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    if pattern == "constant":
        return constant(rate, duration_s)
    if pattern == "poisson":
        return poisson(rate, duration_s, seed)
    if pattern == "lockstep":
        return lockstep(max(1, round(rate * period_s)), period_s, duration_s)
    raise ValueError(f"unknown pattern {pattern!r}; one of {', '.join(PATTERNS)}")
