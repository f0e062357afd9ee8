"""The model core shared by both stacks: a logistic regression loaded from a JSON artifact."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from feature_store.schema import FEATURE_NAMES
from feature_store.vector import Vector
from service_runtime.core.errors import invalid_input

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"


class Model(Protocol):
    """What the routes need of any model kind: its identity and one prediction."""

    name: str
    version: str

    def predict(self, vector: Vector) -> float: ...


@dataclass(frozen=True)
class LogisticModel:
    """A binary logistic regression: ``sigmoid(bias + weights · features)``."""

    name: str
    version: str
    weights: tuple[float, ...]
    bias: float

    def predict(self, vector: Vector) -> float:
        """The probability for one feature vector; the same bits in every process."""
        z = self.bias
        # A fixed summation order keeps the result bit-identical wherever it is computed.
        for weight, value in zip(self.weights, vector, strict=True):
            z += weight * value
        if math.isnan(z):  # inf - inf: finite but enormous features the model cannot weigh
            raise invalid_input("features are out of the model's numeric range", field="features")
        return _sigmoid(z)


def _sigmoid(z: float) -> float:
    # Two branches so that exp never overflows, even for z = ±inf.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def load_model(path: Path) -> LogisticModel:
    """Load and check a model artifact; it must be written for this feature schema."""
    spec = json.loads(path.read_text())
    if tuple(spec["features"]) != FEATURE_NAMES:
        raise ValueError(f"{path}: artifact features {spec['features']} do not match {list(FEATURE_NAMES)}")
    if len(spec["weights"]) != len(FEATURE_NAMES):
        raise ValueError(f"{path}: expected {len(FEATURE_NAMES)} weights, got {len(spec['weights'])}")
    return LogisticModel(
        name=spec["name"],
        version=spec["version"],
        weights=tuple(float(w) for w in spec["weights"]),
        bias=float(spec["bias"]),
    )


def artifact_path(name: str) -> Path:
    """The bundled artifact of a model by name (``model_a``, ``model_b``)."""
    return ARTIFACTS_DIR / f"{name}.json"
