"""``AsyncBatcher``: adaptive micro-batching on the event loop (the policy is ``model_serving.batching``'s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from model_serving.batch_metrics import observe_batch, observe_inference
from model_serving.batching import BatchPolicy, BatchQueue, CostModel, Pending, inference_failed
from model_serving.kinds import RowResult, one_result
from model_serving.waits import wait_bound
from reference.core import ApiError, Vector, deadline_exceeded
from reference.service import Deadline

RunBatch = Callable[[Sequence[Vector], Deadline], Awaitable[list[RowResult]]]


class AsyncBatcher:
    """Gathers concurrent requests into batches and runs them with ``run``; one per worker, started on first use."""

    def __init__(self, policy: BatchPolicy, run: RunBatch, prior_s: float = 0.0, service: str = "model") -> None:
        self._queue: BatchQueue[Vector] = BatchQueue(policy, CostModel(prior_s))
        self._run = run
        self._service = service
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()

    async def predict(self, vector: Vector, deadline: Deadline) -> float:
        """This request's prediction, computed in a batch; waits at most until the deadline."""
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        answer: asyncio.Future[RowResult] = asyncio.get_running_loop().create_future()
        self._queue.offer(Pending(vector, time.monotonic(), deadline.at, answer), time.monotonic())
        self._wake.set()
        try:
            async with asyncio.timeout(wait_bound(deadline)):
                result = await answer  # cancelling this request cancels its future: the batch skips it
        except TimeoutError:
            raise deadline_exceeded() from None
        return one_result([result])

    async def _dispatch(self) -> None:
        queue = self._queue
        while True:
            while not queue.can_start():
                self._wake.clear()
                await self._wake.wait()
            now = time.monotonic()
            due = queue.due_at()
            if due > now:
                self._wake.clear()
                try:
                    async with asyncio.timeout(due - now):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            batch = queue.take(now, alive=lambda p: not p.waiter.done())  # type: ignore[union-attr]
            for pending in batch.expired:
                _answer(pending.waiter, deadline_exceeded())
            if batch.items:
                task = asyncio.get_running_loop().create_task(self._run_batch(batch.items, now))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)

    async def _run_batch(self, items: list[Pending[Vector]], sent: float) -> None:
        observe_batch(self._service, len(items), [sent - p.arrival for p in items])
        # The batch is wanted until its last request's deadline: that bounds its wait for an accelerator slot.
        deadline = Deadline(0.0, max(p.deadline_at for p in items))
        start = time.monotonic()
        try:
            results = await self._run([p.item for p in items], deadline)
        except ApiError as error:
            results = [error] * len(items)
        except Exception as error:
            results = [inference_failed(error)] * len(items)
        finally:
            elapsed = time.monotonic() - start
            observe_inference(self._service, elapsed)
            self._queue.done(len(items), elapsed)
            self._wake.set()
        for pending, result in zip(items, results, strict=True):
            _answer(pending.waiter, result)

    async def aclose(self) -> None:
        """Stop dispatching; batches in progress are cancelled, and gone once this returns."""
        tasks = [task for task in [self._dispatcher, *self._batches] if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _answer(waiter: object, result: RowResult) -> None:
    future: asyncio.Future[RowResult] = waiter  # type: ignore[assignment]
    if not future.done():  # the request may have gone (cancelled, or timed out)
        future.set_result(result)
