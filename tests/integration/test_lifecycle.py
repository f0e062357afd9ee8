"""Starting and stopping: make up stops cleanly, and reports a busy port."""

from __future__ import annotations

import socket
import subprocess
import time

from system_launcher.net import free_ports, port_open
from system_launcher.procfs import pid_alive
from system_launcher.registry import SERVICES, job_workers
from system_launcher.topology import STACKS
from tests.integration.harness import LAUNCHER, LAUNCHER_PORTS, ROOT, Launcher, stack_env


def test_make_up_stops_cleanly_on_ctrl_c(tmp_path):
    launcher = Launcher.start(stack_env(free_ports(LAUNCHER_PORTS), tmp_path / "log"), tmp_path / "up.out")
    pids = launcher.descendants()
    settings = launcher.settings
    ports = [settings.listen_port(s.stack, s.role) for s in SERVICES] + [settings.redis_port]
    ports += [port for stack in STACKS for port in settings.edge_ports(stack).values()]
    ports += [settings.jobs_worker_port(w.stack, w.index) for w in job_workers(settings)]
    assert len(pids) >= 7 + 6 + 2 * settings.job_workers  # redis, six masters, their workers, the job workers
    assert all(port_open(p) for p in ports)

    assert launcher.interrupt() == 0
    assert "nothing left running" in launcher.text()
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if pid_alive(p)] == []
    assert [p for p in ports if port_open(p)] == []


def test_make_up_explains_a_busy_port(tmp_path):
    ports = free_ports(LAUNCHER_PORTS)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[1]))
        busy.listen()
        result = subprocess.run(
            LAUNCHER,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin"} | stack_env(ports, tmp_path / "log"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {ports[1]} (async-edge: listen) is already in use" in result.stderr
