"""Adaptive micro-batching's policy, the same on both stacks: when a batch goes, what it holds, whom to refuse.

Triton's dynamic batcher forms a batch when a model instance is free, sends it at once when it is full and
otherwise holds the oldest request at most ``max_queue_delay``; BentoML's dispatcher fits a batch's cost as
``a·n + b`` from recent batches and sends early, or refuses, when waiting would miss the latency goal. This is
both: the wait bound of the first, the deadline arithmetic of the second, with the request's own deadline as the
goal. The twins (``batcher_async``, ``batcher_sync``) only wait and wake; every decision is here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from model_serving.settings import ServingSettings
from reference.core import ApiError
from reference.service import overloaded
from reference.settings import ModelCostSettings

T = TypeVar("T")


@dataclass(frozen=True)
class BatchPolicy:
    """The knobs: items per batch, the longest wait for companions, waiting requests at most, batches at once."""

    max_batch_size: int
    max_wait_s: float
    max_queue: int
    concurrency: int


class CostModel:
    """A batch's run time as ``a·n + b``, least squares over the last ``window`` batches, from a prior until then."""

    def __init__(self, prior_s: float = 0.0, window: int = 64) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=window)
        self._a, self._b = 0.0, prior_s

    def observe(self, n: int, seconds: float) -> None:
        """Record one batch of ``n`` items that ran ``seconds``."""
        self._samples.append((n, seconds))
        count = len(self._samples)
        mean_n = sum(s[0] for s in self._samples) / count
        mean_t = sum(s[1] for s in self._samples) / count
        var = sum((s[0] - mean_n) ** 2 for s in self._samples)
        if var == 0:  # one batch size seen so far: no slope to fit yet
            self._a, self._b = 0.0, mean_t
            return
        cov = sum((s[0] - mean_n) * (s[1] - mean_t) for s in self._samples)
        self._a = max(0.0, cov / var)
        self._b = max(0.0, mean_t - self._a * mean_n)

    def estimate(self, n: int) -> float:
        """The expected run time of a batch of ``n``."""
        return self._a * n + self._b


@dataclass
class Pending(Generic[T]):
    """One waiting request: its item, when it arrived and must be answered (``time.monotonic()``), its waiter."""

    item: T
    arrival: float
    deadline_at: float
    waiter: object = None  # the twin's future


@dataclass
class Batch(Generic[T]):
    """What to send now, and what to fail instead because its deadline has passed."""

    items: list[Pending[T]] = field(default_factory=list)
    expired: list[Pending[T]] = field(default_factory=list)


def cannot_meet_deadline() -> ApiError:
    """A 503 for a request that could not be answered before its deadline even if it were sent at once."""
    return ApiError(503, "deadline_exceeded", "the request's deadline cannot be met by the model's queue")


class BatchQueue(Generic[T]):
    """The requests waiting for a batch, in arrival order; not thread-safe (each twin guards it its own way)."""

    def __init__(self, policy: BatchPolicy, cost: CostModel) -> None:
        self.policy = policy
        self.cost = cost
        self._waiting: deque[Pending[T]] = deque()
        self.running = 0  # batches in progress

    def __len__(self) -> int:
        return len(self._waiting)

    def offer(self, pending: Pending[T], now: float) -> None:
        """Queue a request, or raise the 503 it gets at once: queue full, or its deadline out of reach."""
        if len(self._waiting) >= self.policy.max_queue:
            raise overloaded(f"the model's batch queue holds its limit of {self.policy.max_queue} requests")
        if now + self.expected_wait_s(len(self._waiting)) > pending.deadline_at:
            raise cannot_meet_deadline()
        self._waiting.append(pending)

    def expected_wait_s(self, ahead: int) -> float:
        """How long until a request with ``ahead`` requests before it is answered, if every batch were full."""
        size = self.policy.max_batch_size
        rounds = math.ceil((ahead + 1 + size * self.running) / (size * self.policy.concurrency))
        return rounds * self.cost.estimate(min(size, ahead + 1))

    def can_start(self) -> bool:
        """Whether a batch may start now: a slot is free and someone waits."""
        return self.running < self.policy.concurrency and bool(self._waiting)

    def due_at(self) -> float:
        """When the next batch should go (``time.monotonic()``): at once when full, at the wait bound after its
        oldest request, or earlier if waiting that long would make its most urgent request miss its deadline."""
        size = self.policy.max_batch_size
        if len(self._waiting) >= size:
            return -math.inf
        head = list(self._waiting)
        urgent = min(p.deadline_at for p in head) - self.cost.estimate(len(head) + 1)
        return min(head[0].arrival + self.policy.max_wait_s, urgent)

    def take(self, now: float, alive: Callable[[Pending[T]], bool] = lambda p: True) -> Batch[T]:
        """The next batch (up to the size, in arrival order), skipping requests no longer waited for and
        setting apart those already past their deadline; counts the batch as running if it holds anything."""
        batch: Batch[T] = Batch()
        while self._waiting and len(batch.items) < self.policy.max_batch_size:
            pending = self._waiting.popleft()
            if not alive(pending):
                continue
            (batch.expired if pending.deadline_at <= now else batch.items).append(pending)
        if batch.items:
            self.running += 1
        return batch

    def done(self, n: int, seconds: float) -> None:
        """A batch of ``n`` ended after ``seconds``: its slot is free, and its time teaches the cost model."""
        self.running -= 1
        self.cost.observe(n, seconds)


def batch_policy(lab: ServingSettings, stack: str) -> BatchPolicy:
    """The policy ``lab`` asks for on ``stack``; batches at once: the accelerator's slots (sleep kind), one (the
    event loop, inline), the inference threads (offloaded, or a sync worker), or as many as could exist."""
    if lab.kind == "sleep":
        concurrency = lab.accelerator_slots or math.ceil(lab.max_queue / lab.max_batch_size)
    elif stack == "async" and (lab.kind == "cpu" or lab.async_inference == "inline"):
        concurrency = 1
    else:
        concurrency = lab.inference_threads
    return BatchPolicy(lab.max_batch_size, lab.max_batch_wait_ms / 1000, lab.max_queue, concurrency)


def prior_cost_s(lab: ServingSettings, cost: ModelCostSettings) -> float:
    """What a batch is expected to cost before any has run: the mean simulated wait (sleep and cpu kinds)."""
    return 0.0 if lab.kind == "onnx" else (cost.wait_min_ms + cost.wait_max_ms) / 2000


def inference_failed(error: BaseException) -> ApiError:
    """A 503 for a batch that failed for a reason that is no request's fault."""
    return ApiError(503, "inference_failed", f"the model failed: {type(error).__name__}")
