"""One running system for the whole session, started exactly as ``make up`` starts it."""

from __future__ import annotations

import pytest
import redis
import requests

from system_launcher.net import free_ports
from tests.integration.harness import LAUNCHER_PORTS, Launcher, stack_env

# The long end-to-end runs: `make test-slow` runs them, `make test` leaves them out (CI runs both).
SLOW = {
    "test_bench_quick.py", "test_answer_quick.py", "test_supervision.py", "test_hostile_async.py",
    "test_hostile_sync.py", "test_fuzz.py", "test_load_generator.py", "test_server_options.py", "test_ladder.py",
    "test_job_flood_async.py", "test_job_flood_sync.py", "test_faults_async.py", "test_faults_sync.py",
    "test_jobs_async.py", "test_jobs_sync.py",
}  # fmt: skip


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            if item.fspath.basename in SLOW:
                item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    """The launcher, on free ports, with its own Redis and all six services healthy."""
    base = tmp_path_factory.mktemp("stack")
    # Budgets a shared test machine can keep under load (the deadline's own behaviour is tested with its own).
    budgets = {"SCORING_DEADLINE_S": "2", "SCORING_MODEL_TIMEOUT_S": "1.5"}
    launcher = Launcher.start(stack_env(free_ports(LAUNCHER_PORTS), base / "log", **budgets), base / "up.out")
    yield launcher
    launcher.interrupt()


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def redis_client(running):
    client = redis.Redis.from_url(running.settings.effective_redis_url(), socket_timeout=2)
    yield client
    client.close()
