"""The Open Inference Protocol contract, against the sync stack (twin: test_oip_async.py)."""

import pytest

from tests.protocol.oip_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
