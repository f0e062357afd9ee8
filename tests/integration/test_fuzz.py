"""schemathesis against every service's OpenAPI document: all checks, a bounded number of examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from system_launcher.registry import SERVICES

MAX_EXAMPLES = 50
SEED = 20261121


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(running, svc):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(schemathesis), "run", svc.url(running.settings, "/openapi.json"),
            "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
            "--request-timeout", "5",
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
