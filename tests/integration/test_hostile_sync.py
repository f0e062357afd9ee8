"""Hostile and unlucky clients, against the sync stack (twin: test_hostile_async.py)."""

import pytest

from tests.integration.hostile_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
