"""``Inference``: one batch of rows on the sync stack (slots, the simulated wait, the model on the calling thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from api_model.core import ModelCore, RowResult, one_result
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from service_runtime.core.deadline import Deadline, deadline_exceeded


class Inference:
    """Runs one worker's batches: at most ``accelerator_slots`` at once (sleep kind), one wait each, then the model."""

    def __init__(self, core: ModelCore, settings: ModelSettings) -> None:
        self._core = core
        slots = settings.accelerator_slots if core.kind == "sleep" else 0
        self._slots = threading.BoundedSemaphore(slots) if slots else None

    def run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        """The rows' results, after a free slot (within the deadline) and the batch's wait."""
        if self._slots is None:
            return self._run(vectors)
        if not self._slots.acquire(timeout=deadline.wait_bound()):
            raise deadline_exceeded()
        try:
            return self._run(vectors)
        finally:
            self._slots.release()

    def predict(self, vector: Vector, deadline: Deadline) -> float:
        """One request's prediction, unbatched."""
        return one_result(self.run([vector], deadline))

    def _run(self, vectors: Sequence[Vector]) -> list[RowResult]:
        time.sleep(self._core.batch_wait_s(len(vectors)))
        return self._core.compute_rows(vectors)

    def close(self) -> None:
        """Nothing to release: the twin of ``AsyncInference.aclose``."""
