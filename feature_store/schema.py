"""The feature store's key schema and feature list, defined once for every reader and writer.

Schema v1: one Redis hash per entity at ``features:v1:{entity_id}``, one field per feature
(named below), each value the decimal text of a finite float (Python ``repr``, so it
round-trips bit for bit). A new layout gets a new version prefix; readers never guess.
"""

from __future__ import annotations

import re
from typing import Any

from service_runtime.core.errors import invalid_input

SCHEMA_VERSION = "v1"
KEY_PREFIX = f"features:{SCHEMA_VERSION}:"

# Order matters: it is the order of the model's weight vector and of the bare-list request body.
FEATURE_NAMES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")
N_FEATURES = len(FEATURE_NAMES)

# Submitted features must be finite and at most this large in magnitude: far beyond any real
# feature, and small enough that no model's weighted sum can overflow to inf or nan.
MAX_ABS_FEATURE = 1e6

# The JSON schema of a submitted feature vector, for the services' OpenAPI documents.
FEATURES_JSON_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "number", "minimum": -MAX_ABS_FEATURE, "maximum": MAX_ABS_FEATURE},
    "minItems": N_FEATURES,
    "maxItems": N_FEATURES,
    "description": f"Feature vector, in order: {', '.join(FEATURE_NAMES)}. Finite numbers only.",
    "example": [5.1, 3.5, 1.4, 0.2],
}

ENTITY_ID_MAX_LENGTH = 64
# Letters, digits, '_' and '-': no ':' or '*' or whitespace, so an id can never reach
# another key namespace, a glob pattern or a protocol delimiter.
_ENTITY_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{ENTITY_ID_MAX_LENGTH}}}")


def validate_entity_id(value: object) -> str:
    """Return ``value`` if it is a well-formed entity id, else raise a 422."""
    if not isinstance(value, str):
        raise invalid_input("entity_id must be a string", field="entity_id")
    if not _ENTITY_ID.fullmatch(value):
        raise invalid_input(
            f"entity_id must be 1-{ENTITY_ID_MAX_LENGTH} characters of A-Z a-z 0-9 _ -", field="entity_id"
        )
    return value


# Written by the seed after every entity, so its presence means a complete seed: readiness checks it, and the seed's
# watch mode seeds again when it is gone (a Redis that lost its data).
SEED_MARKER_KEY = f"meta:features:{SCHEMA_VERSION}"
UNSEEDED = "unseeded"  # the readiness state of a Redis that answers without the marker


def entity_key(entity_id: str) -> str:
    """The Redis key of an entity's feature hash (the id must already be validated)."""
    return KEY_PREFIX + entity_id
