"""Latency-throughput curves: which steps pass, the capacity of one ladder, and repetitions summarised."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def passes(step: dict, p99_limit_ms: float, error_limit: float) -> bool:
    """A step passes when its p99 is within the limit and its share of failed answers is at most ``error_limit``."""
    p99, errors = step["p99_ms"], step["error_rate"]
    return p99 is not None and errors is not None and p99 <= p99_limit_ms and errors <= error_limit


def capacity(steps: Sequence[dict], p99_limit_ms: float, error_limit: float, stop_after: int) -> dict:
    """The highest passing offered rate below the first ``stop_after`` failing steps in a row (where the ladder
    stopped); a lower bound when the ladder never stopped (the stack may hold more than was offered)."""
    best, failing = None, 0
    for step in sorted(steps, key=lambda s: s["rate"]):
        if passes(step, p99_limit_ms, error_limit):
            best, failing = step["rate"], 0
        else:
            failing += 1
            if failing >= stop_after:
                return {"rps": best, "lower_bound": False}
    return {"rps": best, "lower_bound": True}


def spread(values: Sequence[float | None]) -> dict:
    """Median, minimum and maximum of repetitions (None values dropped), and how many there were."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(kept), "min": min(kept), "max": max(kept), "n": len(kept)}


def beyond_spread(a: dict, b: dict) -> bool | None:
    """Whether two summarised figures differ by more than their spread: their min-max ranges do not overlap (None
    when either has fewer than two repetitions: one run has no spread to judge by)."""
    if a["n"] < 2 or b["n"] < 2:
        return None
    return a["max"] < b["min"] or b["max"] < a["min"]


def per_rate(repetitions: Sequence[Sequence[dict]], key: str) -> dict[float, dict]:
    """For each offered rate, ``key`` over the repetitions that reached it, summarised."""
    rates = sorted({s["rate"] for steps in repetitions for s in steps})
    return {rate: spread([s[key] for steps in repetitions for s in steps if s["rate"] == rate]) for rate in rates}
