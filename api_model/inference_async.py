"""``AsyncInference``: a batch of rows on the async stack (slots, the simulated wait, the model inline or offloaded)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from api_model.core import ModelCore, RowResult, one_result
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from service_runtime.core.deadline import Deadline, deadline_exceeded


class AsyncInference:
    """Runs one worker's batches: at most ``accelerator_slots`` at once (sleep kind), one wait each, then the model."""

    def __init__(self, core: ModelCore, settings: ModelSettings) -> None:
        self._core = core
        slots = settings.accelerator_slots if core.kind == "sleep" else 0
        self._slots = asyncio.Semaphore(slots) if slots else None
        # Bounded: at most inference_threads batches compute at once; the rest wait their turn in the pool's
        # queue, which the server's concurrency limit and the batcher's queue bound.
        offload = core.kind == "onnx" and settings.async_inference == "offload"
        self._pool = ThreadPoolExecutor(settings.inference_threads, "inference") if offload else None

    async def run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        """The rows' results, after a free slot (within the deadline) and the batch's wait."""
        if self._slots is None:
            return await self._run(vectors)
        try:
            async with asyncio.timeout(deadline.wait_bound()):
                await self._slots.acquire()
        except TimeoutError:
            raise deadline_exceeded() from None
        try:
            return await self._run(vectors)
        finally:
            self._slots.release()

    async def predict(self, vector: Vector, deadline: Deadline) -> float:
        """One request's prediction, unbatched."""
        return one_result(await self.run([vector], deadline))

    async def _run(self, vectors: Sequence[Vector]) -> list[RowResult]:
        await asyncio.sleep(self._core.batch_wait_s(len(vectors)))
        if self._pool is None:
            return self._core.compute_rows(vectors)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._core.compute_rows, vectors)

    async def aclose(self) -> None:
        """Stop the offload pool (batches still computing finish on their own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
