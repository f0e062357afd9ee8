"""Connection-pool options shared by ``FeatureReader`` and ``AsyncFeatureReader``."""

from __future__ import annotations

from pydantic import SecretStr


def pool_kwargs(
    timeout_s: float, connect_timeout_s: float, max_connections: int, password: SecretStr | None = None
) -> dict:
    """A bounded pool: waiting for a free connection and each reply bounded by ``timeout_s``, a new connection's
    set-up by ``connect_timeout_s`` (the caller bounds the whole call by the request's deadline too); each new
    connection authenticates with ``password`` when one is set (a password in the URL wins)."""
    auth = {"password": password.get_secret_value()} if password else {}
    return auth | {
        "max_connections": max_connections,
        # How long a caller waits for a free pooled connection before giving up.
        "timeout": timeout_s,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": connect_timeout_s,
        # A new connection costs one TCP handshake and nothing more: RESP2 needs no HELLO, and no CLIENT SETINFO
        # is sent. (A burst opens many connections at once on a busy worker: each round trip counts there.)
        "protocol": 2,
        "driver_info": None,
    }
