"""Lab settings of the model service beyond the reference's: the model's kind, an accelerator's slots, batching."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from reference.settings import settings_config


class ServingSettings(BaseSettings):
    """Lab knobs of the model service: the model's kind, a simulated accelerator's slots, and micro-batching."""

    model_config = settings_config("MODEL_")

    kind: Literal["sleep", "cpu", "onnx"] = Field(
        "sleep",
        description="sleep: the reference's simulated model (its CPU_MS once per batch); cpu: the same, CPU_MS per "
        "prediction; onnx: the seeded MLP run by ONNX Runtime (releases the GIL), no wait.",
    )
    onnx_width: int = Field(256, gt=0, le=4096, description="onnx: hidden width of the MLP.")
    onnx_depth: int = Field(600, gt=0, le=10_000, description="onnx: hidden layers (about 2.5 ms of CPU at 600).")
    async_inference: Literal["inline", "offload"] = Field(
        "offload", description="Async stack, onnx: run the model on the event loop or in a bounded thread pool."
    )
    inference_threads: int = Field(2, gt=0, le=64, description="Threads that run batches at once (offload; sync).")
    accelerator_slots: int = Field(0, ge=0, le=1024, description="sleep: batches in progress at once; 0: no limit.")
    per_item_ms: float = Field(0.0, ge=0, description="sleep: wait added per item of a batch.")
    max_batch_size: int = Field(1, gt=0, le=1024, description="Micro-batching: items per batch; 1: off.")
    max_batch_wait_ms: float = Field(5.0, ge=0, le=1000, description="Micro-batching: longest wait for companions.")
    deadline_ms: float = Field(
        0.0, ge=0, description="Each request's deadline from its arrival (a batch refuses what it cannot answer by "
        "then); 0: none, the scoring client's timeout bounds it."
    )  # fmt: skip
    max_queue: int = Field(512, gt=0, le=100_000, description="Micro-batching: requests waiting at most; then 503.")

    def deadline_s(self) -> float:
        """The deadline as the service takes it."""
        return self.deadline_ms / 1000 if self.deadline_ms else math.inf

    def batching(self) -> bool:
        """Whether requests are batched."""
        return self.max_batch_size > 1
