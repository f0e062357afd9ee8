"""One running system for the whole session, started exactly as ``make up`` starts it."""

from __future__ import annotations

import pytest
import redis
import requests

from system_launcher.net import free_ports
from tests.integration.harness import LAUNCHER_PORTS, Launcher, stack_env


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


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
