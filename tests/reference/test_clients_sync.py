"""The sync model client against real servers (twin: test_clients_async.py)."""

import time

import pytest

from reference.clients_sync import model_clients, open_pools
from reference.service import Deadline, RequestContext
from reference.settings import ScoringSettings
from tests.reference.clients_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture
def call():
    def three_calls(url: str, deadline_s: float, timeout_s: float | None = None) -> list:
        settings = ScoringSettings(model_urls=[url], model_timeout_s=timeout_s or deadline_s, max_answer_bytes=4096)
        pools = open_pools(settings)
        try:
            (client,) = model_clients(settings, pools)
            outcomes = []
            for _ in range(3):
                ctx = RequestContext("test", Deadline(deadline_s, time.monotonic()))
                outcomes.append(client.outcome((1.0, 2.0, 3.0, 4.0), ctx))
            return outcomes
        finally:
            pools.clear()

    return three_calls
