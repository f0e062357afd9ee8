"""``Batcher``: adaptive micro-batching with a batching thread (the policy is ``model_serving.batching``'s)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from model_serving.batch_metrics import observe_batch, observe_inference
from model_serving.batching import BatchPolicy, BatchQueue, CostModel, Pending, inference_failed
from model_serving.kinds import RowResult, one_result
from model_serving.waits import wait_bound
from reference.core import ApiError, Vector, deadline_exceeded
from reference.service import Deadline

RunBatch = Callable[[Sequence[Vector], Deadline], list[RowResult]]


class Batcher:
    """Gathers concurrent requests into batches and runs them with ``run`` on ``policy.concurrency`` threads."""

    def __init__(self, policy: BatchPolicy, run: RunBatch, prior_s: float = 0.0, service: str = "model") -> None:
        self._queue: BatchQueue[Vector] = BatchQueue(policy, CostModel(prior_s))
        self._run = run
        self._service = service
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(policy.concurrency, "batch")
        self._thread: threading.Thread | None = None
        self._closed = False

    def predict(self, vector: Vector, deadline: Deadline) -> float:
        """This request's prediction, computed in a batch; waits at most until the deadline."""
        answer: Future[RowResult] = Future()
        with self._cond:
            if self._thread is None:  # started in the worker that serves, after any fork
                self._thread = threading.Thread(target=self._dispatch, name="batcher", daemon=True)
                self._thread.start()
            self._queue.offer(Pending(vector, time.monotonic(), deadline.at, answer), time.monotonic())
            self._cond.notify()
        try:
            result = answer.result(timeout=wait_bound(deadline))
        except FutureTimeout:
            answer.cancel()  # still queued: the batch skips it
            raise deadline_exceeded() from None
        return one_result([result])

    def _dispatch(self) -> None:
        queue = self._queue
        while True:
            with self._cond:
                while not self._closed and not queue.can_start():
                    self._cond.wait()
                if self._closed:
                    return
                now = time.monotonic()
                due = queue.due_at()
                if due > now:
                    self._cond.wait(due - now)
                    continue
                batch = queue.take(now, alive=lambda p: not p.waiter.done())  # type: ignore[union-attr]
            for pending in batch.expired:
                _answer(pending.waiter, deadline_exceeded())
            if batch.items:
                self._pool.submit(self._run_batch, batch.items, now)

    def _run_batch(self, items: list[Pending[Vector]], sent: float) -> None:
        observe_batch(self._service, len(items), [sent - p.arrival for p in items])
        # The batch is wanted until its last request's deadline: that bounds its wait for an accelerator slot.
        deadline = Deadline(0.0, max(p.deadline_at for p in items))
        start = time.monotonic()
        try:
            results = self._run([p.item for p in items], deadline)
        except ApiError as error:
            results = [error] * len(items)
        except Exception as error:
            results = [inference_failed(error)] * len(items)
        finally:
            elapsed = time.monotonic() - start
            observe_inference(self._service, elapsed)
            with self._cond:
                self._queue.done(len(items), elapsed)
                self._cond.notify()
        for pending, result in zip(items, results, strict=True):
            _answer(pending.waiter, result)

    def close(self) -> None:
        """Stop dispatching and the batch threads (batches in progress finish)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _answer(waiter: object, result: RowResult) -> None:
    future: Future[RowResult] = waiter  # type: ignore[assignment]
    with contextlib.suppress(InvalidStateError):  # the request gave up (its deadline) and cancelled it
        future.set_result(result)
