"""This project's models in the protocol's terms, for the servers and the clients alike: one FP64 input of rows
of features, one FP64 output of one prediction per row, and the rule every row of features follows."""

from __future__ import annotations

import math

from inference_protocol.tensors import FP64, Rows, TensorSpec
from reference.core import FEATURE_NAMES, MAX_ABS_FEATURE, N_FEATURES, Vector, invalid_input

FEATURES_INPUT = TensorSpec("features", FP64, (-1, N_FEATURES))
PREDICTION_OUTPUT = TensorSpec("prediction", FP64, (-1, 1))


def vectors(rows: Rows) -> list[Vector]:
    """Each row as a feature vector under the predict route's rule (finite numbers within ``MAX_ABS_FEATURE``),
    whichever form carried it; the first bad value is a 422."""
    for index, row in enumerate(rows):
        for name, value in zip(FEATURE_NAMES, row, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float) or not _allowed(value):
                raise invalid_input(f"input {FEATURES_INPUT.name!r}, row {index}: feature {name!r} must be a finite "
                                    f"number within ±{MAX_ABS_FEATURE:g}", field="inputs")  # fmt: skip
    return [tuple(float(value) for value in row) for row in rows]


def _allowed(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= MAX_ABS_FEATURE
