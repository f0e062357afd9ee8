"""The reference's sync stack as real processes (twin: test_stack_async.py)."""

import pytest

from tests.reference.stack_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
