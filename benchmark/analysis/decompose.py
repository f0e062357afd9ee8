"""Split the mean client time of a window into stages from the services' Server-Timing headers."""

from __future__ import annotations

PARTS = ("outside handler", "redis", "simulated inference", "model calls overhead", "in-handler other")


def expected_inference_ms(fanout: str, wait_min_ms: float, wait_max_ms: float, cpu_ms: float) -> float:
    """The simulated model cost a request must wait for: E[max] of the two draws if parallel, E[sum] if not."""
    spread = wait_max_ms - wait_min_ms if wait_max_ms > 0 else 0.0
    low = wait_min_ms if wait_max_ms > 0 else 0.0
    if fanout == "parallel":
        return low + 2 * spread / 3 + cpu_ms  # E[max of two uniform draws] = min + 2/3 (max - min)
    return 2 * (low + spread / 2) + 2 * cpu_ms


def median_inference_ms(fanout: str, wait_min_ms: float, wait_max_ms: float, cpu_ms: float) -> float:
    """The median of that model cost: what a p50 is compared with.

    Parallel: the median of the max of two uniform draws solves ((x - min) / (max - min))² = 1/2.
    Sequential: the sum of two uniform draws is symmetric, so its median is its mean.
    """
    spread = wait_max_ms - wait_min_ms if wait_max_ms > 0 else 0.0
    low = wait_min_ms if wait_max_ms > 0 else 0.0
    if fanout == "parallel":
        return low + spread / 2**0.5 + cpu_ms
    return expected_inference_ms(fanout, wait_min_ms, wait_max_ms, cpu_ms)


def decompose(stages_ms: dict[str, float], fanout: str, inference_ms: float) -> dict[str, float]:
    """Mean ms per part; the parts add up to the mean client time.

    - outside handler: client time minus the handler's total (network, waiting for a worker, server glue);
    - redis: the feature read;
    - simulated inference: the model cost any stack must wait for (the floor);
    - model calls overhead: the fan-out's time beyond that (HTTP client, model servers, their queues);
    - in-handler other: the rest of the handler (parsing, thread hand-off, combining, serialising).
    """
    if not stages_ms:
        return {}
    fan_out = stages_ms["models_max"] if fanout == "parallel" else stages_ms["model_a"] + stages_ms["model_b"]
    return {
        "outside handler": stages_ms["client"] - stages_ms["total"],
        "redis": stages_ms["redis"],
        "simulated inference": inference_ms,
        "model calls overhead": fan_out - inference_ms,
        "in-handler other": stages_ms["total"] - stages_ms["redis"] - fan_out,
    }
