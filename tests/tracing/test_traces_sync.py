"""One scoring request's trace on the sync stack, as real processes (twin: test_traces_async.py)."""

import pytest

from tests.tracing.traces_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "sync"
