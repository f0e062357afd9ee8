"""The minimal sync stack answers as the reference's sync stack (twin: test_minimal_async.py)."""

import pytest

from tests.integration.minimal_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
