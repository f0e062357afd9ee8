"""AsyncBatcher: the batcher contract on the event loop, and cancellation."""

import asyncio

from model_serving.batcher_async import AsyncBatcher
from model_serving.batching import BatchPolicy
from tests.unit import batcher_contract as contract


def _run(policy, model, requests):
    async def main():
        async def compute(vectors, _deadline):
            await asyncio.sleep(model.delay_s)
            return model.compute(vectors)

        batcher = AsyncBatcher(policy, compute)
        try:
            calls = []
            for vector, budget in requests:  # in order: each joins the queue before the next starts
                calls.append(asyncio.ensure_future(batcher.predict(vector, contract.deadline(budget))))
                await asyncio.sleep(0)
            return await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await batcher.aclose()

    return asyncio.run(main())


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
    model = contract.Model()

    async def main():
        async def compute(vectors, _deadline):
            return model.compute(vectors)

        batcher = AsyncBatcher(BatchPolicy(8, 0.05, 64, 1), compute)
        gone = asyncio.ensure_future(batcher.predict((1.0, 0.0, 0.0, 0.0), contract.deadline(5)))
        await asyncio.sleep(0)
        kept = asyncio.ensure_future(batcher.predict((2.0, 0.0, 0.0, 0.0), contract.deadline(5)))
        await asyncio.sleep(0)
        gone.cancel()
        answer = await kept
        await batcher.aclose()
        return gone.cancelled(), answer

    assert asyncio.run(main()) == (True, 4.0)
    assert model.batches == [[(2.0, 0.0, 0.0, 0.0)]]
