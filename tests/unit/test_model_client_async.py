"""The async model client reads whole answers, on kept-alive connections and on ones the server closes."""

from __future__ import annotations

import asyncio

import pytest

from api_scoring.model_client_async import AsyncModelClient, open_session
from service_runtime.core.context import RequestContext
from service_runtime.core.deadline import Deadline
from service_runtime.core.tracing import Trace
from tests.unit.model_answer_server import model_answer_server


def _ctx() -> RequestContext:
    return RequestContext(trace=Trace.from_headers(None, None), deadline=Deadline(5.0))


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
def test_every_answer_is_read_whole_whether_the_server_keeps_the_connection_or_closes_it(close):
    async def main(url: str) -> list[float]:
        session = open_session(4, keepalive_s=5.0)
        try:
            client = AsyncModelClient("model_a", url, session, connect_timeout_s=1.0, timeout_s=2.0,
                                      max_answer_bytes=4096)  # fmt: skip
            return [(await client.predict((1.0, 2.0), _ctx())).prediction for _ in range(3)]
        finally:
            await session.close()

    with model_answer_server(close) as url:
        predictions = asyncio.run(main(url))
    assert predictions == [0.25, 0.25, 0.25]
