"""What both batchers (model_serving.batcher_async, batcher_sync) must do; each twin file supplies a driver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from model_serving.batching import BatchPolicy
from reference.core import ApiError
from reference.service import Deadline

BAD_ROW = (-1.0, 0.0, 0.0, 0.0)


@dataclass
class Model:
    """A stand-in batch function that records its batches; the answer of a row is its own (2·x0)."""

    delay_s: float = 0.0
    fail: BaseException | None = None
    batches: list[list[tuple[float, ...]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def compute(self, vectors: Sequence[tuple[float, ...]]) -> list[float | ApiError]:
        with self.lock:
            self.batches.append(list(vectors))
        if self.fail is not None:
            raise self.fail
        return [ApiError(422, "invalid_input", "bad row") if v == BAD_ROW else 2 * v[0] for v in vectors]


# A driver runs the requests (vectors, each with its deadline budget) at once against a batcher built from the
# policy and the model, and returns each request's answer or the exception it raised.
Driver = Callable[[BatchPolicy, Model, list[tuple[tuple[float, ...], float]]], list[object]]


def _vectors(n: int) -> list[tuple[float, ...]]:
    return [(float(i), 0.0, 0.0, 0.0) for i in range(n)]


def check_each_answer_is_its_own_and_batches_keep_arrival_order(run: Driver) -> None:
    model = Model(delay_s=0.01)
    vectors = _vectors(24)
    answers = run(BatchPolicy(8, 0.05, 64, 1), model, [(v, 5.0) for v in vectors])
    assert answers == [2 * v[0] for v in vectors]
    assert max(len(b) for b in model.batches) > 1
    assert max(len(b) for b in model.batches) <= 8
    for batch in model.batches:  # arrival order within each batch (the drivers submit in order)
        assert batch == sorted(batch)


def check_a_lone_request_does_not_wait_for_a_full_batch(run: Driver) -> None:
    model = Model()
    assert run(BatchPolicy(64, 0.02, 64, 1), model, [((3.0, 0.0, 0.0, 0.0), 5.0)]) == [6.0]
    assert [len(b) for b in model.batches] == [1]


def check_a_request_that_cannot_meet_its_deadline_is_refused_at_once(run: Driver) -> None:
    model = Model()
    (answer,) = run(BatchPolicy(8, 0.01, 64, 1), model, [((1.0, 0.0, 0.0, 0.0), 0.0)])
    assert isinstance(answer, ApiError)
    assert (answer.status, answer.code) == (503, "deadline_exceeded")
    assert model.batches == []


def check_a_failing_batch_fails_each_of_its_requests(run: Driver) -> None:
    refused = ApiError(503, "model_unavailable", "down")
    answers = run(BatchPolicy(8, 0.05, 64, 1), Model(fail=refused), [(v, 5.0) for v in _vectors(4)])
    assert all(a is refused for a in answers)
    answers = run(BatchPolicy(8, 0.05, 64, 1), Model(fail=RuntimeError("boom")), [(v, 5.0) for v in _vectors(4)])
    assert all(isinstance(a, ApiError) and (a.status, a.code) == (503, "inference_failed") for a in answers)


def check_a_bad_row_fails_only_its_own_request(run: Driver) -> None:
    model = Model()
    vectors = [*_vectors(3), BAD_ROW, *_vectors(3)]
    answers = run(BatchPolicy(8, 0.05, 64, 1), model, [(v, 5.0) for v in vectors])
    assert isinstance(answers[3], ApiError)
    assert answers[3].status == 422
    assert answers[:3] == answers[4:] == [0.0, 2.0, 4.0]
    assert len(model.batches) < len(vectors)  # it was batched with the others


def deadline(budget_s: float) -> Deadline:
    """A deadline ``budget_s`` from now."""
    return Deadline(budget_s, time.monotonic())
