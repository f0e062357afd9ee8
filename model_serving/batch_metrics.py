"""The model services' batching metrics, on both stacks (multiprocess like every other metric)."""

from __future__ import annotations

from prometheus_client import Histogram

from reference.service import BUCKETS

BATCH_SIZE = Histogram(
    "model_batch_size", "Items per batch the model ran.", ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)  # fmt: skip
QUEUE_WAIT = Histogram(
    "model_queue_wait_seconds", "Time a request waited in the batch queue before its batch was sent.", ["service"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)  # fmt: skip
INFERENCE = Histogram(
    "model_inference_seconds", "Time one batch took: slot, wait and model.", ["service"], buckets=BUCKETS
)


def observe_batch(service: str, size: int, queue_waits: list[float]) -> None:
    """One batch sent: its size and how long each of its requests waited."""
    BATCH_SIZE.labels(service).observe(size)
    wait = QUEUE_WAIT.labels(service)
    for seconds in queue_waits:
        wait.observe(seconds)


def observe_inference(service: str, seconds: float) -> None:
    """One batch done."""
    INFERENCE.labels(service).observe(seconds)
