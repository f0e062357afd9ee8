"""What each stack's model client must do against a real server, well-behaved or not; twin files run it.

``test_clients_async.py`` and ``test_clients_sync.py`` set the ``call`` fixture: three calls of one client to a URL,
within a deadline (and a model timeout, by default the deadline), each giving a ``Prediction`` or the ``ApiError`` it
failed with.
"""

from __future__ import annotations

import time

import pytest

from reference.api import Prediction
from reference.core import ApiError
from tests.reference.answer_server import answer_server


@pytest.mark.parametrize("mode", ["keep-alive", "connection-close"])
def test_every_answer_is_read_whole_whether_the_server_keeps_the_connection_or_closes_it(call, mode):
    with answer_server(mode) as url:
        outcomes = call(url, 5.0)
    assert [o.prediction for o in outcomes] == [0.25, 0.25, 0.25]
    assert all(isinstance(o, Prediction) for o in outcomes)


@pytest.mark.parametrize("mode", ["status-500", "not-json", "not-finite", "a-string", "too-large-declared",
                                  "too-large-undeclared"])  # fmt: skip
def test_a_broken_answer_makes_the_model_unavailable(call, mode):
    with answer_server(mode) as url:
        outcomes = call(url, 5.0)
    for outcome in outcomes:
        assert isinstance(outcome, ApiError), outcome
        assert (outcome.status, outcome.code, outcome.extra["upstream"]) == (503, "model_unavailable", ["model_a"])


@pytest.mark.parametrize("mode", ["dripping", "silent"])
def test_a_slow_answer_ends_within_the_deadline(call, mode):
    started = time.monotonic()
    with answer_server(mode) as url:
        outcomes = call(url, 0.4)
    # Three calls of 0.4 s at most each; the sync client may read once past the deadline (each read is bounded).
    assert time.monotonic() - started < 3 * 0.4 * 2 + 0.5
    assert all(isinstance(o, ApiError) and o.status == 503 for o in outcomes)


def test_a_call_ends_within_its_own_budget_when_the_deadline_leaves_more(call):
    started = time.monotonic()
    with answer_server("dripping") as url:  # 52 bytes, one every 50 ms
        outcomes = call(url, 5.0, 0.3)
    # Three calls of 0.3 s each at most (the sync client may read once past it), far less than their 5 s deadline.
    assert time.monotonic() - started < 3 * 0.3 * 2 + 0.5
    assert all(isinstance(o, ApiError) and o.status == 503 for o in outcomes)


def test_a_dead_model_is_a_fast_503(call):
    with answer_server("keep-alive") as url:
        pass  # stopped: nothing listens there any more
    started = time.monotonic()
    outcomes = call(url, 5.0)
    assert time.monotonic() - started < 2
    assert all(isinstance(o, ApiError) and o.code == "model_unavailable" for o in outcomes)
