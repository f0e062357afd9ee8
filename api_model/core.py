"""The model core every route and transport serves: the model of its kind, its cost, its protocol metadata."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from api_model.cost import InferenceCost
from api_model.model import Model, load_model
from api_model.oip import model_metadata
from api_model.settings import ModelSettings
from feature_store.vector import Vector
from inference_protocol.metadata import ModelMetadata
from service_runtime.core.deadline import Deadline
from service_runtime.core.errors import ApiError, invalid_input

# One row's outcome in a batch: its prediction, or the error that row alone earns.
RowResult = float | ApiError


@dataclass(frozen=True)
class ModelCore:
    """One loaded model with its cost: what the JSON route, the protocol's REST routes and gRPC all call."""

    model: Model
    cost: InferenceCost
    metadata: ModelMetadata
    kind: str = "sleep"
    per_item_s: float = 0.0

    @classmethod
    def load(cls, settings: ModelSettings) -> ModelCore:
        """The model ``settings`` name, with a cost drawn from this process's own random stream."""
        if settings.kind == "onnx":
            # Imported only here: onnxruntime and NumPy cost every other kind's processes start-up time and memory.
            from api_model.onnx_model import OnnxModel

            model: Model = OnnxModel(settings.name, settings.onnx_width, settings.onnx_depth)
            cost = InferenceCost(0, 0, 0, random.Random())  # the model is the cost
        else:
            model = load_model(settings.artifact_file())
            cost = InferenceCost(settings.wait_min_ms, settings.wait_max_ms, settings.cpu_ms, random.Random())
        per_item_s = settings.per_item_ms / 1000 if settings.kind == "sleep" else 0.0
        return cls(model, cost, model_metadata(model), settings.kind, per_item_s)

    def wait_s(self) -> float:
        """This request's simulated wait (the stacks do the waiting, each its own way)."""
        return self.cost.wait_s()

    def batch_wait_s(self, n: int) -> float:
        """The simulated wait of a batch of ``n``: one wait, plus the per-item cost (sleep kind)."""
        return self.cost.wait_s() + self.per_item_s * n

    def wait_within(self, deadline: Deadline) -> tuple[float, bool]:
        """The wait, cut to what the caller's deadline leaves, and whether the deadline falls first."""
        wait, left = self.cost.wait_s(), deadline.remaining()
        return (left, True) if wait > left else (wait, False)

    def predict(self, vector: Vector) -> float:
        """One prediction, after its CPU cost."""
        self.cost.burn_cpu()
        return self.model.predict(vector)

    def predict_rows(self, vectors: Sequence[Vector]) -> list[float]:
        """A request's rows with the same numbers as ``predict``; the first bad row fails the request."""
        return all_results(self.compute_rows(vectors))

    def compute_rows(self, vectors: Sequence[Vector]) -> list[RowResult]:
        """A batch's rows, each with the same number ``predict`` gives it and its own error, never a companion's.

        The CPU cost is paid once per batch on the sleep kind (the simulated accelerator's host work) and once
        per row on the cpu kind (pure-Python compute does not amortise).
        """
        if self.kind == "onnx":
            return [_row_or_error(p) for p in self.model.probabilities(vectors)]  # type: ignore[attr-defined]
        if self.kind != "cpu":
            self.cost.burn_cpu()
        results: list[RowResult] = []
        for vector in vectors:
            if self.kind == "cpu":
                self.cost.burn_cpu()
            try:
                results.append(self.model.predict(vector))
            except ApiError as error:
                results.append(error)
        return results


def _row_or_error(p: float) -> RowResult:
    if math.isnan(p):
        return invalid_input("features are out of the model's numeric range", field="features")
    return p


def one_result(results: Sequence[RowResult]) -> float:
    """The one row's prediction, or its error raised."""
    (result,) = results
    if isinstance(result, ApiError):
        raise result
    return result


def all_results(results: Sequence[RowResult]) -> list[float]:
    """Every row's prediction of one request, or the first row's error raised."""
    for result in results:
        if isinstance(result, ApiError):
            raise result
    return list(results)  # type: ignore[arg-type]  # no errors left
