"""Where the tests find Prometheus and promtool (``make prometheus``), or why they skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FETCHED = ROOT / ".tools" / "prometheus" / "usr" / "bin"


def prometheus_tool(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``: fetched by ``make prometheus``, else on PATH; a skip otherwise,
    or a failure where it is required (``REQUIRE_PROMETHEUS=1``, as in CI)."""
    for candidate in (FETCHED / name, shutil.which(name)):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    reason = f"{name} not found: run `make prometheus` (Debian's package, no root)"
    if os.environ.get("REQUIRE_PROMETHEUS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
