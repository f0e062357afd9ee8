"""The sync model client reads whole answers, on kept-alive connections and on ones the server closes."""

from __future__ import annotations

import pytest

from api_scoring.model_client_sync import ModelClient, open_pools
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.tracing import Trace
from tests.unit.model_answer_server import model_answer_server


def _ctx() -> RequestContext:
    return RequestContext(trace=Trace.from_headers(None, None), deadline=Deadline(5.0))


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
def test_every_answer_is_read_whole_whether_the_server_keeps_the_connection_or_closes_it(close):
    pools = open_pools(4)
    try:
        with model_answer_server(close) as url:
            client = ModelClient("model_a", url, pools, connect_timeout_s=1.0, timeout_s=2.0, max_answer_bytes=4096)
            predictions = [client.predict((1.0, 2.0), _ctx()).prediction for _ in range(3)]
    finally:
        pools.clear()
    assert predictions == [0.25, 0.25, 0.25]
