"""The model a model service serves, as the protocol's routes and gRPC servers call it (``model_serving``'s models
and any other with these members), and what the protocol says of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from inference_protocol.metadata import ModelMetadata
from reference.core import Vector
from reference.service import RequestContext


class AsyncServedModel(Protocol):
    """The async stack's served model: every row of one request at once, awaited."""

    name: str
    version: str
    platform: str  # the protocol's platform name, e.g. "python_logistic_regression" or "onnxruntime_onnx"

    async def predict_rows(self, vectors: Sequence[Vector], ctx: RequestContext) -> list[float]:
        """One prediction per row, in order; the first bad row's ``ApiError`` raised."""
        ...


class ServedModel(Protocol):
    """The sync stack's served model: the same, blocking the calling thread."""

    name: str
    version: str
    platform: str

    def predict_rows(self, vectors: Sequence[Vector], ctx: RequestContext) -> list[float]:
        """One prediction per row, in order; the first bad row's ``ApiError`` raised."""
        ...


def metadata_of(model: AsyncServedModel | ServedModel) -> ModelMetadata:
    """What the protocol says of ``model``: its name, version and platform, its one input and one output."""
    return ModelMetadata(model.name, model.version, model.platform)
