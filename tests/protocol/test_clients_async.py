"""The async protocol clients against real servers (twin: test_clients_sync.py)."""

import asyncio
import time

import pytest

from inference_protocol.clients_async import open_transport
from inference_protocol.settings import TransportSettings
from reference.clients_async import model_clients, open_session
from reference.service import Deadline, RequestContext
from reference.settings import ScoringSettings
from tests.protocol.clients_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture
def call():
    def three_calls(protocol: str, address: str, deadline_s: float) -> tuple[list, str]:
        url = address if protocol == "oip-rest" else "http://127.0.0.1:9/api/v1/ml/async/predict"
        settings = ScoringSettings(model_urls=[url], model_timeout_s=deadline_s, max_answer_bytes=4096)
        transport = TransportSettings(model_protocol=protocol, model_grpc_targets=[address])

        async def main() -> tuple[list, str]:
            async with (
                open_session(settings) as session,
                open_transport(settings, transport, model_clients(settings, session)) as (client,),
            ):
                contexts = [RequestContext("test", Deadline(deadline_s, time.monotonic())) for _ in range(3)]
                return [await client.outcome((1.0, 2.0, 3.0, 4.0), ctx) for ctx in contexts], await client.check()

        return asyncio.run(main())

    return three_calls
