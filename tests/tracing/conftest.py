"""Real Redis for the tracing tests, and the marker that says these tests start processes."""

from __future__ import annotations

import pytest

from tests.reference.stack import running_redis


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/tracing/test_" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server
