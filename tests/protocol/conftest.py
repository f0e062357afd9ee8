"""The protocol's tests start real processes: the model services of a stack (no Redis), and for scoring Redis too."""

from __future__ import annotations

import pytest
import requests

from tests.protocol.services import running_models
from tests.reference.stack import running_redis


def pytest_collection_modifyitems(items):
    # The clients' tests run their servers in this process; the others start services.
    for item in items:
        path = str(item.fspath)
        if "tests/protocol/test_" in path and "tests/protocol/test_clients_" not in path:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def models(stack, tmp_path_factory):
    """model_a and model_b of the module's stack, each with its gRPC server."""
    with running_models(stack, tmp_path_factory.mktemp(f"models-{stack}")) as running:
        yield running


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session
