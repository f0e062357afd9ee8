"""The model kinds: what computes the rows of a batch, and the simulated wait a batch of them costs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from model_serving.settings import ServingSettings
from reference.core import ApiError, LogisticModel, SimulatedCost, Vector, invalid_input
from reference.settings import ModelCostSettings

# One row's outcome in a batch: its prediction, or the error that row alone earns.
RowResult = float | ApiError
LOGISTIC_PLATFORM = "python_logistic_regression"
ONNX_PLATFORM = "onnxruntime_onnx"


class Rows(Protocol):
    """What a kind gives the service: its identity, a batch's simulated wait, and each row's result."""

    name: str
    version: str
    platform: str

    def batch_wait_s(self, n: int) -> float: ...

    def compute(self, vectors: Sequence[Vector]) -> list[RowResult]: ...


@dataclass(frozen=True)
class LogisticRows:
    """The sleep and cpu kinds: the reference's logistic model and its simulated cost.

    The CPU cost is paid once per batch on the sleep kind (the simulated accelerator's host work) and once per row
    on the cpu kind (pure-Python compute does not amortise); the sleep kind adds ``per_item_s`` per row to the wait.
    """

    model: LogisticModel
    cost: SimulatedCost
    cpu_per_row: bool = False
    per_item_s: float = 0.0
    platform: str = LOGISTIC_PLATFORM

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version

    def batch_wait_s(self, n: int) -> float:
        """One simulated wait for the whole batch, plus its per-item part."""
        return self.cost.wait_s() + self.per_item_s * n

    def compute(self, vectors: Sequence[Vector]) -> list[RowResult]:
        """Each row's prediction, the same number the reference's model gives it alone."""
        if not self.cpu_per_row:
            self.cost.burn_cpu()
        results: list[RowResult] = []
        for vector in vectors:
            if self.cpu_per_row:
                self.cost.burn_cpu()
            results.append(row_result(self.model.predict(vector)))
        return results


class OnnxRows:
    """The onnx kind: the seeded MLP run by ONNX Runtime; the model is the cost, so a batch waits for nothing."""

    platform = ONNX_PLATFORM

    def __init__(self, name: str, width: int, depth: int) -> None:
        # Imported only here: onnxruntime and NumPy cost every other kind's processes start-up time and memory.
        from model_serving.onnx_model import OnnxModel

        self._model = OnnxModel(name, width, depth)
        self.name, self.version = self._model.name, self._model.version

    def batch_wait_s(self, n: int) -> float:
        """Nothing: ONNX Runtime's compute is the whole cost."""
        return 0.0

    def compute(self, vectors: Sequence[Vector]) -> list[RowResult]:
        """Each row's probability, from one run of the whole batch."""
        return [row_result(p) for p in self._model.probabilities(vectors)]


def load_rows(model: str, cost: ModelCostSettings, lab: ServingSettings) -> LogisticRows | OnnxRows:
    """Model ``model`` of the kind ``lab`` asks for, its simulated cost drawn from this process's own stream."""
    if lab.kind == "onnx":
        return OnnxRows(model, lab.onnx_width, lab.onnx_depth)
    simulated = SimulatedCost(**cost.model_dump())
    per_item_s = lab.per_item_ms / 1000 if lab.kind == "sleep" else 0.0
    return LogisticRows(LogisticModel.load(model), simulated, lab.kind == "cpu", per_item_s)


def out_of_range() -> ApiError:
    """422: finite features so large that the model's arithmetic has no answer (``inf - inf``)."""
    return invalid_input("features are out of the model's numeric range", field="features")


def row_result(prediction: float) -> RowResult:
    """The prediction, or the error of a row the model has no number for."""
    return out_of_range() if math.isnan(prediction) else prediction


def checked(prediction: float) -> float:
    """The prediction, or its row's error raised."""
    return one_result([row_result(prediction)])


def one_result(results: Sequence[RowResult]) -> float:
    """The one row's prediction, or its error raised."""
    (result,) = results
    if isinstance(result, ApiError):
        raise result
    return result


def all_results(results: Sequence[RowResult]) -> list[float]:
    """Every row's prediction of one request, or the first bad row's error raised."""
    for result in results:
        if isinstance(result, ApiError):
            raise result
    return list(results)  # type: ignore[arg-type]  # no errors left
