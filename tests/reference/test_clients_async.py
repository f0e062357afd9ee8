"""The async model client against real servers (twin: test_clients_sync.py)."""

import asyncio
import time

import pytest

from reference.clients_async import model_clients, open_session
from reference.service import Deadline, RequestContext
from reference.settings import ScoringSettings
from tests.reference.clients_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture
def call():
    def three_calls(url: str, deadline_s: float, timeout_s: float | None = None) -> list:
        async def main() -> list:
            settings = ScoringSettings(model_urls=[url], model_timeout_s=timeout_s or deadline_s, max_answer_bytes=4096)
            async with open_session(settings) as session:
                (client,) = model_clients(settings, session)
                contexts = [RequestContext("test", Deadline(deadline_s, time.monotonic())) for _ in range(3)]
                return [await client.outcome((1.0, 2.0, 3.0, 4.0), ctx) for ctx in contexts]

        return asyncio.run(main())

    return three_calls
