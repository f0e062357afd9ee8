"""The HTTP contract, against the sync stack (twin: test_stack_async.py)."""

import pytest

from tests.integration.stack_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture
def stack():
    return "sync"
