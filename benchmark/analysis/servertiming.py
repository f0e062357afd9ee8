"""Parsing the ``Server-Timing`` header the services send (``name;dur=ms, ...``)."""

from __future__ import annotations

import contextlib


def parse_server_timing(value: str | None) -> dict[str, float]:
    """Stage name -> milliseconds; entries without a duration are skipped, a missing header gives ``{}``."""
    stages: dict[str, float] = {}
    for entry in (value or "").split(","):
        name, _, params = entry.strip().partition(";")
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur" and name:
                with contextlib.suppress(ValueError):  # a malformed entry is skipped, not fatal
                    stages[name] = float(number)
    return stages
