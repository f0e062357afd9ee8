"""The containers' health checks, run natively against the real services and edges of the running system."""

from __future__ import annotations

import subprocess
import sys

from deploygen.compose import edge_healthcheck_argv, healthcheck_argv, job_worker_healthcheck_argv
from system_launcher.registry import EDGES, SERVICES, job_workers


def test_compose_healthchecks_pass_against_every_running_service_and_edge(running):
    # The same functions wrote docker-compose.yml's probes (a unit test keeps the file in step);
    # here each probe runs against the real process on its native port.
    probes = [(svc.name, healthcheck_argv(svc, running.settings)) for svc in SERVICES]
    probes += [(w.name, job_worker_healthcheck_argv(w, running.settings)) for w in job_workers(running.settings)]
    if running.settings.edge:
        probes += [(e.name, edge_healthcheck_argv(e.stack, running.settings)) for e in EDGES]
    assert len(probes) > len(SERVICES)
    for name, (python, *args) in probes:
        assert python == "python"
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"
