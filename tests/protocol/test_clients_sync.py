"""The sync protocol clients against real servers (twin: test_clients_async.py)."""

import time

import pytest

from inference_protocol.clients_sync import open_transport
from inference_protocol.settings import TransportSettings
from reference.clients_sync import model_clients, open_pools
from reference.service import Deadline, RequestContext
from reference.settings import ScoringSettings
from tests.protocol.clients_contract import *  # noqa: F403  (the shared tests, collected here for this stack)


@pytest.fixture
def call():
    def three_calls(protocol: str, address: str, deadline_s: float) -> tuple[list, str]:
        url = address if protocol == "oip-rest" else "http://127.0.0.1:9/api/v1/ml/sync/predict"
        settings = ScoringSettings(model_urls=[url], model_timeout_s=deadline_s, max_answer_bytes=4096)
        transport = TransportSettings(model_protocol=protocol, model_grpc_targets=[address])
        pools = open_pools(settings)
        try:
            (client,) = open_transport(settings, transport, model_clients(settings, pools))
            outcomes = []
            for _ in range(3):
                ctx = RequestContext("test", Deadline(deadline_s, time.monotonic()))
                outcomes.append(client.outcome((1.0, 2.0, 3.0, 4.0), ctx))
            return outcomes, client.check()
        finally:
            pools.clear()

    return three_calls
