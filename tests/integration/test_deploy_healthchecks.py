"""The containers' health checks, run natively against the real services of the running system."""

from __future__ import annotations

import subprocess
import sys

from deploygen.compose import healthcheck_argv
from system_launcher.registry import SERVICES


def test_compose_healthchecks_pass_against_every_running_service(running):
    # The same function wrote docker-compose.yml's probes (a unit test keeps the file in step);
    # here each probe runs against the real service on its native port.
    for svc in SERVICES:
        python, *args = healthcheck_argv(svc, running.settings)
        assert python == "python"
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, f"{svc.name}: {result.stderr}"
