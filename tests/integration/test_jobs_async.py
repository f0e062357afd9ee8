"""Job mode, against the async stack (twin: test_jobs_sync.py)."""

import pytest

from tests.integration.jobs_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "async"
