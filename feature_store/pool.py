"""Connection-pool options shared by ``FeatureReader`` and ``AsyncFeatureReader``."""

from __future__ import annotations


def pool_kwargs(timeout_s: float, max_connections: int) -> dict:
    """A bounded pool whose every wait (free connection, connect, each reply) is bounded by ``timeout_s``."""
    return {
        "max_connections": max_connections,
        # How long a caller waits for a free pooled connection before giving up.
        "timeout": timeout_s,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
    }
