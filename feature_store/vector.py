"""Turning stored or submitted values into a feature vector, with one policy for bad values.

Policy: a vector is exactly ``N_FEATURES`` finite floats within ``±MAX_ABS_FEATURE``, submitted or
stored. Stored records are strict: an entity with no fields at all is unknown (404); an entity with
some fields missing, a value that is not a finite number or out of range, or a key that is not a hash,
is refused (422 ``invalid_features``): a data fault, never reported as an outage. Nothing is imputed,
so a score is never computed from made-up or corrupt data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from feature_store.schema import FEATURE_NAMES, MAX_ABS_FEATURE, N_FEATURES
from service_runtime.core.errors import entity_not_found, invalid_features, invalid_input

Vector = tuple[float, ...]


def vector_from_store(entity_id: str, values: Sequence[bytes | str | None]) -> Vector:
    """Build a vector from the values HMGET returned in ``FEATURE_NAMES`` order."""
    if all(v is None for v in values):
        raise entity_not_found(entity_id)
    vector = []
    for name, raw in zip(FEATURE_NAMES, values, strict=True):
        if raw is None:
            raise invalid_features(entity_id, f"feature {name!r} is missing")
        try:
            value = float(raw)
        except ValueError:
            raise invalid_features(entity_id, f"feature {name!r} is not a number") from None
        if not math.isfinite(value):
            raise invalid_features(entity_id, f"feature {name!r} is not finite")
        if abs(value) > MAX_ABS_FEATURE:
            raise invalid_features(entity_id, f"feature {name!r} is out of range (|x| > {MAX_ABS_FEATURE:g})")
        vector.append(value)
    return tuple(vector)


def vector_from_request(values: object, field: str = "features") -> Vector:
    """Build a vector from a decoded JSON list, or raise a 422 saying what is wrong."""
    if not isinstance(values, list):
        raise invalid_input(f"{field} must be a list of {N_FEATURES} numbers", field=field)
    if len(values) != N_FEATURES:
        raise invalid_input(
            f"{field} must have exactly {N_FEATURES} numbers ({', '.join(FEATURE_NAMES)}), got {len(values)}",
            field=field,
        )
    vector = []
    for value in values:
        # bool is a subclass of int: true/false are not features.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_input(f"{field} must contain only numbers", field=field)
        try:
            as_float = float(value)
        except OverflowError:  # an integer too large for a double
            as_float = math.inf
        if not math.isfinite(as_float):
            raise invalid_input(f"{field} must contain only finite numbers", field=field)
        if abs(as_float) > MAX_ABS_FEATURE:
            raise invalid_input(
                f"{field} must be numbers between -{MAX_ABS_FEATURE:g} and {MAX_ABS_FEATURE:g}", field=field
            )
        vector.append(as_float)
    return tuple(vector)


def vector_to_store(vector: Sequence[float]) -> dict[str, str]:
    """The hash fields that store ``vector`` (``repr`` round-trips every float exactly)."""
    return {name: repr(float(value)) for name, value in zip(FEATURE_NAMES, vector, strict=True)}
