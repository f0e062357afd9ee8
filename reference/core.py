"""What both stacks share and do without I/O: the store's keys, the vector's rules, the model, and the error shape."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

# The feature store (schema v1): one Redis hash per entity at features:v1:{entity_id}, one field per feature, each
# value the repr() of a finite float (it round-trips bit for bit). A new layout gets a new version prefix.
FEATURE_NAMES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")
N_FEATURES = len(FEATURE_NAMES)
KEY_PREFIX = "features:v1:"
# Written last by a complete seed: readiness asks for it, so a Redis that lost its data is not ready.
SEED_MARKER_KEY = "meta:features:v1"
# Letters, digits, '_' and '-': an id can never reach another key namespace, a glob or a protocol delimiter.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Far beyond any real feature, and small enough that no weighted sum overflows to inf or nan.
MAX_ABS_FEATURE = 1e6
MODELS_DIR = Path(__file__).parent / "models"

Vector = tuple[float, ...]


def entity_key(entity_id: str) -> str:
    """The Redis key of an entity's features (the id is already validated)."""
    return KEY_PREFIX + entity_id


class ApiError(Exception):
    """An error that becomes an HTTP answer of the one shape: ``{"status", "error", "message", ...extra}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"status": self.status, "error": self.code, "message": self.message, **self.extra}


def invalid_input(message: str, **extra: Any) -> ApiError:
    """422: valid JSON that is not a valid request."""
    return ApiError(422, "invalid_input", message, **extra)


def body_too_large(limit: int) -> ApiError:
    """413: a body over ``MAX_BODY_BYTES``."""
    return ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes", limit=limit)


def unavailable(code: str, message: str, upstream: Sequence[str]) -> ApiError:
    """503: a dependency (``redis``, a model) gave no usable answer."""
    return ApiError(503, code, message, upstream=list(upstream))


def deadline_exceeded() -> ApiError:
    """503: the request's budget was spent before its work was done."""
    return ApiError(503, "deadline_exceeded", "the request's deadline passed before it could be answered")


def http_error(status: int) -> ApiError:
    """A framework's own error (404 route, 405 method, 413 body...) in the one shape, the same on both stacks."""
    try:
        known = HTTPStatus(status)
    except ValueError:
        return ApiError(status, "http_error", f"HTTP error {status}")
    code = known.phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")
    return ApiError(status, code, known.description)


def vector_from_store(entity_id: str, values: Sequence[bytes | str | None]) -> Vector:
    """The vector HMGET returned (in ``FEATURE_NAMES`` order): 404 if the entity has none, 422 if any is bad.

    Nothing is imputed: a missing, non-finite or out-of-range stored value is the data's fault, never an outage.
    """
    if all(v is None for v in values):
        raise ApiError(404, "entity_not_found", f"no features stored for entity {entity_id!r}", entity_id=entity_id)
    vector = []
    for name, raw in zip(FEATURE_NAMES, values, strict=True):
        try:
            value = float(raw) if raw is not None else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or abs(value) > MAX_ABS_FEATURE:
            raise invalid_features(entity_id, f"feature {name!r} is missing, not a number or out of range")
        vector.append(value)
    return tuple(vector)


def store_failure(entity_id: str, exc: Exception) -> ApiError:
    """What a failed read of the store means: a key of the wrong type is the data's fault (422), else an outage."""
    if str(exc).startswith("WRONGTYPE"):  # Redis' error reply to HMGET on a key that is not a hash
        return invalid_features(entity_id, "the stored record is not a hash")
    return unavailable("feature_store_unavailable", f"feature store unavailable: {type(exc).__name__}", ["redis"])


def invalid_features(entity_id: str, reason: str) -> ApiError:
    """422: the stored features of an entity cannot be scored."""
    return ApiError(422, "invalid_features", f"stored features of entity {entity_id!r} are invalid: {reason}",
                    entity_id=entity_id)  # fmt: skip


@dataclass(frozen=True)
class LogisticModel:
    """A binary logistic regression, ``sigmoid(bias + weights · features)``: the same bits in every process."""

    name: str
    version: str
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def load(cls, name: str) -> LogisticModel:
        """The bundled model ``name`` (``reference/models/{name}.json``), checked against the feature schema."""
        spec = json.loads((MODELS_DIR / f"{name}.json").read_text())
        if tuple(spec["features"]) != FEATURE_NAMES:
            raise ValueError(f"model {name}: its features {spec['features']} are not {list(FEATURE_NAMES)}")
        return cls(spec["name"], spec["version"], tuple(float(w) for w in spec["weights"]), float(spec["bias"]))

    def predict(self, vector: Sequence[float]) -> float:
        """The probability for one vector (a fixed summation order keeps it bit-identical everywhere)."""
        z = self.bias
        for weight, value in zip(self.weights, vector, strict=True):
            z += weight * value
        # Two branches so that exp never overflows.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


@dataclass
class SimulatedCost:
    """What one inference costs: a wait (a remote accelerator's round trip) and CPU held on the calling thread."""

    wait_min_ms: float = 40.0
    wait_max_ms: float = 50.0
    cpu_ms: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not 0 <= self.wait_min_ms <= self.wait_max_ms:
            raise ValueError("the simulated wait needs 0 <= wait_min_ms <= wait_max_ms")

    def wait_s(self) -> float:
        """One wait, drawn uniformly between the bounds (0 when they are 0)."""
        return self.rng.uniform(self.wait_min_ms, self.wait_max_ms) / 1000 if self.wait_max_ms else 0.0

    def burn_cpu(self) -> None:
        """Spin for ``cpu_ms`` of this thread's CPU time: under contention it takes longer, as real compute would."""
        if self.cpu_ms > 0:
            until = time.thread_time() + self.cpu_ms / 1000
            while time.thread_time() < until:
                pass
