"""What a failed read of the feature store means, decided once for both readers."""

from __future__ import annotations

from service_runtime.core.errors import ApiError, feature_store_unavailable, invalid_features


def read_failure(entity_id: str, exc: Exception) -> ApiError:
    """A record of the wrong Redis type is the data's fault (422 ``invalid_features``); anything else an outage.

    Redis answers a command on a key of the wrong type with an error reply starting ``WRONGTYPE``.
    """
    if str(exc).startswith("WRONGTYPE"):
        return invalid_features(entity_id, "the stored record is not a hash")
    return feature_store_unavailable(type(exc).__name__)
