"""Batcher: the batcher contract with a batching thread, and cancellation (a request that stops waiting)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from model_serving.batcher_sync import Batcher
from model_serving.batching import BatchPolicy
from tests.unit import batcher_contract as contract


def _run(policy, model, requests):
    def compute(vectors, _deadline):
        time.sleep(model.delay_s)
        return model.compute(vectors)

    batcher = Batcher(policy, compute)

    def call(vector, budget):
        try:
            return batcher.predict(vector, contract.deadline(budget))
        except Exception as error:
            return error

    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            calls = []
            for vector, budget in requests:  # in order: each joins the queue before the next starts
                calls.append(pool.submit(call, vector, budget))
                time.sleep(0.001)
            return [c.result(timeout=10) for c in calls]
    finally:
        batcher.close()


def test_each_answer_is_its_own_and_batches_keep_arrival_order():
    contract.check_each_answer_is_its_own_and_batches_keep_arrival_order(_run)


def test_a_lone_request_does_not_wait_for_a_full_batch():
    contract.check_a_lone_request_does_not_wait_for_a_full_batch(_run)


def test_a_request_that_cannot_meet_its_deadline_is_refused_at_once():
    contract.check_a_request_that_cannot_meet_its_deadline_is_refused_at_once(_run)


def test_a_failing_batch_fails_each_of_its_requests():
    contract.check_a_failing_batch_fails_each_of_its_requests(_run)


def test_a_bad_row_fails_only_its_own_request():
    contract.check_a_bad_row_fails_only_its_own_request(_run)


def test_a_cancelled_request_is_left_out_of_its_batch():
    # A sync request stops waiting when its deadline passes: it gets its 503 and its row is never computed.
    model = contract.Model()
    started, release = threading.Event(), threading.Event()

    def compute(vectors, _deadline):
        if not started.is_set():
            started.set()
            release.wait(5)  # the first batch holds the one slot while the second request waits in the queue
        return model.compute(vectors)

    batcher = Batcher(BatchPolicy(8, 0.0, 64, 1), compute)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(batcher.predict, (1.0, 0.0, 0.0, 0.0), contract.deadline(5))
        assert started.wait(5)
        try:
            batcher.predict((2.0, 0.0, 0.0, 0.0), contract.deadline(0.05))
        except Exception as error:
            late = error
        release.set()
        assert first.result(timeout=5) == 2.0
    batcher.close()
    assert (late.status, late.code) == (503, "deadline_exceeded")
    time.sleep(0.05)  # a batch started after release would show here
    assert model.batches == [[(1.0, 0.0, 0.0, 0.0)]]
