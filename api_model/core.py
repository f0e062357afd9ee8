"""The model core every route and transport serves: the model, its simulated cost, its protocol metadata."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from api_model.cost import InferenceCost
from api_model.model import LogisticModel, load_model
from api_model.oip import model_metadata
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from inference_protocol.metadata import ModelMetadata
from service_runtime.core.deadline import Deadline


@dataclass(frozen=True)
class ModelCore:
    """One loaded model with its cost: what the JSON route, the protocol's REST routes and gRPC all call."""

    model: LogisticModel
    cost: InferenceCost
    metadata: ModelMetadata

    @classmethod
    def load(cls, settings: ModelSettings) -> ModelCore:
        """The model ``settings`` name, with a cost drawn from this process's own random stream."""
        model = load_model(settings.artifact_file())
        cost = InferenceCost(settings.wait_min_ms, settings.wait_max_ms, settings.cpu_ms, random.Random())
        return cls(model, cost, model_metadata(model))

    def wait_s(self) -> float:
        """This request's simulated wait (the stacks do the waiting, each its own way)."""
        return self.cost.wait_s()

    def wait_within(self, deadline: Deadline) -> tuple[float, bool]:
        """The wait, cut to what the caller's deadline leaves, and whether the deadline falls first."""
        wait, left = self.cost.wait_s(), deadline.remaining()
        return (left, True) if wait > left else (wait, False)

    def predict(self, vector: Vector) -> float:
        """One prediction, after its CPU cost."""
        self.cost.burn_cpu()
        return self.model.predict(vector)

    def predict_rows(self, vectors: Sequence[Vector]) -> list[float]:
        """A batch, row by row with the same numbers as ``predict``; one simulated cost for the whole batch."""
        self.cost.burn_cpu()
        return [self.model.predict(vector) for vector in vectors]
