"""Failure behaviour of the sync stack when scoring calls the models over gRPC (twin: test_faults_grpc_async.py)."""

import pytest

from tests.protocol.faults_grpc_contract import *  # noqa: F403  (the shared tests, collected here for this stack)

pytestmark = pytest.mark.slow  # kills and restarts processes: make test-slow


@pytest.fixture(scope="module")
def stack():
    return "sync"
