"""The Open Inference Protocol contract, against the async stack (twin: test_oip_sync.py)."""

import pytest

from tests.protocol.oip_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "async"
