"""Micro-batching in a real model service, on the sync stack (twin: test_batching_async.py)."""

import pytest

from tests.integration.batching_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
