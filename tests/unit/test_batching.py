"""The micro-batching policy both stacks share (model_serving.batching), on made-up clocks."""

import math

import pytest

from model_serving.batching import BatchPolicy, BatchQueue, CostModel, Pending, batch_policy, prior_cost_s
from model_serving.settings import ServingSettings
from reference.core import ApiError
from reference.settings import ModelCostSettings


def _queue(size=4, wait=0.01, max_queue=8, concurrency=1, prior=0.0):
    return BatchQueue(BatchPolicy(size, wait, max_queue, concurrency), CostModel(prior))


def test_cost_model_fits_a_line_and_starts_from_its_prior():
    cost = CostModel(prior_s=0.045)
    assert cost.estimate(8) == 0.045
    for n in (1, 2, 4, 8, 16):
        cost.observe(n, 0.002 * n + 0.01)
    assert cost.estimate(32) == pytest.approx(0.074)


def test_a_batch_waits_at_most_the_bound_after_its_oldest_request():
    queue = _queue(wait=0.01)
    queue.offer(Pending("a", arrival=1.0, deadline_at=9.0), now=1.0)
    queue.offer(Pending("b", arrival=1.004, deadline_at=9.0), now=1.004)
    assert queue.due_at() == pytest.approx(1.01)


def test_a_full_batch_goes_at_once():
    queue = _queue(size=2)
    for item in "ab":
        queue.offer(Pending(item, 1.0, 9.0), 1.0)
    assert queue.due_at() == -math.inf


def test_a_batch_goes_early_when_waiting_would_miss_a_deadline():
    queue = _queue(wait=0.05, prior=0.02)
    queue.offer(Pending("a", arrival=1.0, deadline_at=1.03), now=1.0)
    assert queue.due_at() == pytest.approx(1.01)  # 1.03 - the batch's expected 20 ms


def test_a_request_that_cannot_meet_its_deadline_is_refused_at_once():
    queue = _queue(prior=0.05)
    with pytest.raises(ApiError) as refused:
        queue.offer(Pending("a", 1.0, deadline_at=1.04), now=1.0)
    assert (refused.value.status, refused.value.code) == (503, "deadline_exceeded")
    assert len(queue) == 0


def test_a_full_queue_refuses_with_503():
    queue = _queue(max_queue=2)
    for item in "ab":
        queue.offer(Pending(item, 1.0, 9.0), 1.0)
    with pytest.raises(ApiError) as refused:
        queue.offer(Pending("c", 1.0, 9.0), 1.0)
    assert (refused.value.status, refused.value.code) == (503, "overloaded")


def test_take_keeps_arrival_order_skips_the_gone_and_sets_the_late_apart():
    queue = _queue(size=3, concurrency=1)
    for item, deadline in [("a", 9.0), ("gone", 9.0), ("late", 2.0), ("b", 9.0), ("c", 9.0), ("d", 9.0)]:
        queue.offer(Pending(item, 1.0, deadline), 1.0)
    batch = queue.take(now=2.5, alive=lambda p: p.item != "gone")
    assert [p.item for p in batch.items] == ["a", "b", "c"]
    assert [p.item for p in batch.expired] == ["late"]
    assert not queue.can_start()  # its one slot is taken
    queue.done(3, 0.01)
    assert queue.can_start()
    assert [p.item for p in queue.take(2.5).items] == ["d"]


@pytest.mark.parametrize(
    ("env", "stack", "concurrency"),
    [
        ({"accelerator_slots": 1}, "async", 1),
        ({}, "sync", 32),  # unlimited slots: as many batches as the queue could hold
        ({"kind": "onnx", "async_inference": "inline"}, "async", 1),
        ({"kind": "onnx", "inference_threads": 3}, "async", 3),
        ({"kind": "onnx", "inference_threads": 3, "async_inference": "inline"}, "sync", 3),
    ],
)
def test_batches_at_once_follow_the_kind_and_the_stack(env, stack, concurrency):
    lab = ServingSettings(max_batch_size=16, max_queue=512, **env)
    assert batch_policy(lab, stack).concurrency == concurrency


def test_before_any_batch_a_batch_is_expected_to_cost_the_mean_simulated_wait():
    cost = ModelCostSettings(wait_min_ms=40, wait_max_ms=50)
    assert prior_cost_s(ServingSettings(), cost) == pytest.approx(0.045)
    assert prior_cost_s(ServingSettings(kind="onnx"), cost) == 0.0
