"""A job flood leaves the predict route without errors, on the async stack (twin: test_job_flood_sync.py)."""

import pytest

from tests.integration.job_flood_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture(scope="module")
def stack():
    return "async"
