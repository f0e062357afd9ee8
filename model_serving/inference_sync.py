"""``Inference``: one batch of rows on the sync stack (slots, the simulated wait, the model on the calling thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from model_serving.kinds import RowResult, Rows
from model_serving.settings import ServingSettings
from model_serving.waits import wait_bound
from reference.core import Vector, deadline_exceeded
from reference.service import Deadline


class Inference:
    """Runs one worker's batches: at most ``accelerator_slots`` at once (sleep kind), one wait each, then the model."""

    def __init__(self, rows: Rows, lab: ServingSettings) -> None:
        self._rows = rows
        slots = lab.accelerator_slots if lab.kind == "sleep" else 0
        self._slots = threading.BoundedSemaphore(slots) if slots else None

    def run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        """The rows' results, after a free slot and the batch's wait, both within the deadline."""
        if self._slots is None:
            return self._run(vectors, deadline)
        if not self._slots.acquire(timeout=wait_bound(deadline)):
            raise deadline_exceeded()
        try:
            return self._run(vectors, deadline)
        finally:
            self._slots.release()

    def _run(self, vectors: Sequence[Vector], deadline: Deadline) -> list[RowResult]:
        wait, left = self._rows.batch_wait_s(len(vectors)), deadline.remaining()
        if wait > left:  # the accelerator's call times out at the deadline, as a real call with a timeout would
            time.sleep(left)
            raise deadline_exceeded()
        time.sleep(wait)
        return self._rows.compute(vectors)

    def close(self) -> None:
        """Nothing to release: the twin of ``AsyncInference.aclose``."""
