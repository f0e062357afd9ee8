"""Settings of a model service (env prefix ``MODEL_``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from api_model.model import artifact_path
from service_runtime.core.settings import settings_config
from service_runtime.core.topology import DEFAULT_GRPC_PORTS, MODELS, Stack


class ModelSettings(BaseSettings):
    """One model service: which model it serves and what each inference costs."""

    model_config = settings_config("MODEL_")

    name: str = Field(default="model_a", description="Model to serve: model_a or model_b.")
    artifact: Path | None = Field(default=None, description="Artifact file; default: the bundled one for name.")
    wait_min_ms: float = Field(default=40.0, ge=0, description="Lower bound of the simulated inference wait.")
    wait_max_ms: float = Field(default=50.0, ge=0, description="Upper bound of the wait; 0 disables it.")
    cpu_ms: float = Field(default=0.0, ge=0, description="CPU burned per prediction (CPU-bound mode); 0: off.")
    kind: Literal["sleep", "cpu", "onnx"] = Field(
        default="sleep",
        description="sleep: the simulated wait (CPU_MS burned once per batch); cpu: the same, CPU_MS burned per "
        "prediction (holds the GIL); onnx: the seeded MLP run by ONNX Runtime (releases the GIL), no wait.",
    )
    onnx_width: int = Field(default=256, gt=0, le=4096, description="onnx: hidden width of the MLP.")
    onnx_depth: int = Field(
        default=600, gt=0, le=10_000,
        description="onnx: hidden layers (tied weights); 600 costs about 2.5 ms of CPU per prediction here.",
    )  # fmt: skip
    async_inference: Literal["inline", "offload"] = Field(
        default="offload",
        description="Async stack, onnx: run the model on the event loop (inline) or in a bounded thread pool.",
    )
    inference_threads: int = Field(
        default=2, gt=0, le=64,
        description="Threads that run batches (async offload; sync batching); at most this many run at once.",
    )  # fmt: skip
    accelerator_slots: int = Field(
        default=0, ge=0, le=1024,
        description="sleep: batches in progress at once in a worker (an accelerator's slots); 0: unlimited.",
    )  # fmt: skip
    per_item_ms: float = Field(default=0.0, ge=0, description="sleep: wait added per item of a batch.")
    max_batch_size: int = Field(default=1, gt=0, le=1024, description="Micro-batching: items per batch; 1: off.")
    max_batch_wait_ms: float = Field(
        default=5.0, ge=0, le=1000, description="Micro-batching: longest a request waits for companions."
    )
    deadline_ms: float = Field(
        default=0.0, ge=0,
        description="Each request's deadline from its arrival (the admission rule; with batching, a request that "
        "cannot be answered by then is refused at once, 503); 0: none, as the scoring client's timeout bounds it.",
    )  # fmt: skip
    max_queue: int = Field(
        default=512, gt=0, le=100_000, description="Micro-batching: requests waiting at most; beyond: 503."
    )
    max_body_bytes: int = Field(
        default=65_536, gt=0, description="Largest accepted request body (and gRPC message, each way)."
    )
    grpc: bool = Field(default=True, description="Serve the Open Inference Protocol over gRPC beside HTTP.")
    grpc_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="gRPC port; default: 8100/8102 (async model_a/model_b), 5100/5102 (sync); 0: any free port.",
    )  # fmt: skip
    grpc_grace_s: float = Field(
        default=5.0, ge=0, description="On shutdown, gRPC calls in flight get this long to finish."
    )

    def grpc_port_on(self, stack: Stack) -> int:
        """The gRPC port of this model service on ``stack``."""
        if self.grpc_port is not None:
            return self.grpc_port
        return DEFAULT_GRPC_PORTS[(stack, self.name)] if self.name in MODELS else 0

    def deadline_s(self) -> float:
        """The deadline as the service policy takes it."""
        return self.deadline_ms / 1000 if self.deadline_ms else math.inf

    def batching(self) -> bool:
        """Whether requests are batched."""
        return self.max_batch_size > 1

    def artifact_file(self) -> Path:
        """The artifact to load."""
        return self.artifact or artifact_path(self.name)
