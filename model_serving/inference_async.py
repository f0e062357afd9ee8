"""``AsyncInference``: a batch of rows on the async stack (slots, the simulated wait, the model inline or offloaded)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from model_serving.kinds import RowResult, Rows
from model_serving.settings import ServingSettings
from model_serving.waits import wait_bound
from reference.core import Vector, deadline_exceeded
from reference.service import Deadline


class AsyncInference:
    """Runs one worker's batches: at most ``accelerator_slots`` at once (sleep kind), one wait each, then the model."""

    def __init__(self, rows: Rows, lab: ServingSettings) -> None:
        self._rows = rows
        slots = lab.accelerator_slots if lab.kind == "sleep" else 0
        self._slots = asyncio.Semaphore(slots) if slots else None
        # Bounded: at most inference_threads batches compute at once; the rest wait their turn in the pool's
        # queue, which the server's in-flight limit and the batcher's queue bound.
        offload = lab.kind == "onnx" and lab.async_inference == "offload"
        self._pool = ThreadPoolExecutor(lab.inference_threads, "inference") if offload else None

    async def run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        """The rows' results, after a free slot and the batch's wait, both within the deadline."""
        if self._slots is None:
            return await self._run(vectors, deadline)
        try:
            async with asyncio.timeout(wait_bound(deadline)):
                await self._slots.acquire()
        except TimeoutError:
            raise deadline_exceeded() from None
        try:
            return await self._run(vectors, deadline)
        finally:
            self._slots.release()

    async def _run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        wait, left = self._rows.batch_wait_s(len(vectors)), deadline.remaining()
        if wait > left:  # the accelerator's call times out at the deadline, as a real call with a timeout would
            await asyncio.sleep(left)
            raise deadline_exceeded()
        await asyncio.sleep(wait)
        if self._pool is None:
            return self._rows.compute(vectors)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._rows.compute, vectors)

    async def aclose(self) -> None:
        """Stop the offload pool (batches still computing finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
