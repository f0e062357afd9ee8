"""The admission rule every service shares (reference/service.py): room, then time left against serving time."""

from __future__ import annotations

import time

from reference.service import Admission, Deadline, RequestContext

LIMIT = 4


def request(budget_s: float = 0.5) -> RequestContext:
    return RequestContext("id", Deadline(budget_s, time.monotonic()))


def learned(seconds: float) -> Admission:
    """An admission that has seen one timed request answered in ``seconds``."""
    admission = Admission(LIMIT)
    assert admission.enter(request(), timed=True) is None
    admission.leave(timed=True, status=200, seconds=seconds)
    return admission


def test_a_request_is_refused_when_its_deadline_leaves_less_than_serving_takes():
    assert learned(0.05).enter(request(), timed=True) is None
    late = learned(0.8).enter(request(), timed=True)
    assert late is not None
    assert (late.status, late.code) == (503, "overloaded")


def test_a_full_worker_refuses_every_route():
    admission = learned(0.05)
    for _ in range(LIMIT):
        assert admission.enter(request(), timed=False) is None
    refused = admission.enter(request(), timed=False)
    assert refused is not None
    assert refused.status == 503
    admission.leave(timed=False, status=200, seconds=0.01)
    assert admission.enter(request(), timed=False) is None  # a request that left makes room


def test_routes_that_are_not_timed_are_not_judged_by_the_predict_routes_serving_time():
    assert learned(0.8).enter(request(), timed=False) is None


def test_a_stale_estimate_cannot_refuse_every_request_for_good():
    admission, refusals = learned(0.8), 0  # learned under an overload that has passed
    while admission.enter(request(), timed=True) is not None:
        refusals += 1
        assert refusals < 100, "still refusing every request"
    assert admission.service_s < 0.5
    admission.leave(timed=True, status=200, seconds=0.05)  # what it lets through teaches it again
    assert admission.service_s < 0.5


def test_only_successful_timed_answers_teach_the_estimate():
    admission = learned(0.05)
    assert admission.enter(request(), timed=True) is None
    admission.leave(timed=True, status=503, seconds=3.0)
    assert admission.enter(request(), timed=False) is None
    admission.leave(timed=False, status=200, seconds=3.0)
    assert admission.service_s == 0.05
