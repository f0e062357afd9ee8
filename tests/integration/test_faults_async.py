"""Failure behaviour of the async stack (twin: test_faults_sync.py)."""

import pytest

from tests.integration.faults_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "async"
