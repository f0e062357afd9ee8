"""The minimal async stack answers as the reference's async stack (twin: test_minimal_sync.py)."""

import pytest

from tests.integration.minimal_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "async"
