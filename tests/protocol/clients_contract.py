"""What each stack's protocol clients of the models must do against real servers, well-behaved or not, over REST
and gRPC; twin files run it.

``test_clients_async.py`` and ``test_clients_sync.py`` set the ``call`` fixture: three calls of the one client
``open_transport`` gives for a protocol and a server, within a deadline, each a ``Prediction`` or the ``ApiError`` it
failed with, and the client's readiness check.
"""

from __future__ import annotations

import time

import pytest

from reference.api import Prediction
from reference.core import ApiError
from tests.protocol.answer_servers import BROKEN_GRPC, BROKEN_REST, grpc_answer_server, rest_answer_server

SERVERS = {"oip-rest": rest_answer_server, "grpc": grpc_answer_server}
WELL = {"oip-rest": "keep-alive", "grpc": "ok"}


def assert_unavailable(outcomes: list) -> None:
    for outcome in outcomes:
        assert isinstance(outcome, ApiError), outcome
        assert (outcome.status, outcome.code, outcome.extra["upstream"]) == (503, "model_unavailable", ["model_a"])


@pytest.mark.parametrize("protocol", ["oip-rest", "grpc"])
def test_a_good_answer_is_the_models_prediction_and_it_is_ready(call, protocol):
    with SERVERS[protocol](WELL[protocol]) as address:
        outcomes, check = call(protocol, address, 5.0)
    assert outcomes == [Prediction(model="model_a", version="1", prediction=0.25)] * 3
    assert check == "ok"


def test_an_answer_is_read_whole_when_the_server_closes_the_connection(call):
    with rest_answer_server("connection-close") as url:
        outcomes, _ = call("oip-rest", url, 5.0)
    assert [o.prediction for o in outcomes] == [0.25, 0.25, 0.25]


@pytest.mark.parametrize(("protocol", "mode"), [*(("oip-rest", m) for m in BROKEN_REST),
                                                *(("grpc", m) for m in BROKEN_GRPC)])  # fmt: skip
def test_a_broken_answer_makes_the_model_unavailable(call, protocol, mode):
    with SERVERS[protocol](mode) as address:
        outcomes, _ = call(protocol, address, 5.0)
    assert_unavailable(outcomes)


@pytest.mark.parametrize(("protocol", "mode"), [("oip-rest", "dripping"), ("oip-rest", "silent"), ("grpc", "silent")])
def test_a_slow_answer_ends_within_the_deadline(call, protocol, mode):
    started = time.monotonic()
    with SERVERS[protocol](mode) as address:
        outcomes, _ = call(protocol, address, 0.4)
    # Three calls of 0.4 s at most each; the sync REST client may read once past the deadline (each read is bounded).
    assert time.monotonic() - started < 3 * 0.4 * 2 + 1
    assert all(isinstance(o, ApiError) and o.status == 503 for o in outcomes)


@pytest.mark.parametrize("protocol", ["oip-rest", "grpc"])
def test_a_dead_model_is_a_fast_503_and_not_ready(call, protocol):
    with SERVERS[protocol](WELL[protocol]) as address:
        pass  # stopped: nothing listens there any more
    started = time.monotonic()
    outcomes, check = call(protocol, address, 5.0)
    assert time.monotonic() - started < 2
    assert_unavailable(outcomes)
    assert check != "ok"
