"""Waiting, boundedly, for a condition to become true."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    check: Callable[[], object], timeout_s: float, errors: tuple[type[BaseException], ...] = (OSError,),
    interval_s: float = 0.1,
) -> None:  # fmt: skip
    """Poll ``check`` until it returns a true value; ``errors`` it raises count as not yet. Fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except errors:
            pass
        time.sleep(interval_s)
    raise TimeoutError(f"condition not met within {timeout_s}s")
