"""The admission rule both stacks share (service_runtime/web/service.py): room, then time left against serving time."""

from __future__ import annotations

from service_runtime.core.server_settings import ServerSettings
from service_runtime.web.service import ServiceTime, service_policy

PREDICT = "/api/v1/ml/async/predict"


def policy():
    return service_policy(ServerSettings(worker_class="uvicorn", max_in_flight=4), "async", deadline_s=0.5,
                          routes=("/api/v1/ml/async/jobs",))  # fmt: skip


def learned(seconds: float) -> ServiceTime:
    estimate = ServiceTime()
    estimate.observe(200, seconds)
    return estimate


def test_a_request_is_refused_when_its_deadline_leaves_less_than_serving_takes():
    rule = policy()
    assert rule.refusal(rule.context(None, None), PREDICT, 0, learned(0.05)) is None
    late = rule.refusal(rule.context(None, None), PREDICT, 0, learned(0.8))
    assert late is not None
    assert (late.status, late.code) == (503, "overloaded")


def test_a_full_worker_refuses_every_route():
    rule = policy()
    refused = rule.refusal(rule.context(None, None), "/api/v1/ml/async/jobs", 4, learned(0.05))
    assert refused is not None
    assert refused.status == 503


def test_routes_that_are_not_timed_are_not_judged_by_the_predict_routes_serving_time():
    rule = policy()
    assert rule.refusal(rule.context(None, None), "/api/v1/ml/async/jobs", 0, learned(0.8)) is None


def test_a_stale_estimate_cannot_refuse_every_request_for_good():
    rule, estimate = policy(), learned(0.8)  # learned under an overload that has passed
    refusals = 0
    while rule.refusal(rule.context(None, None), PREDICT, 0, estimate) is not None:
        refusals += 1
        assert refusals < 100, "still refusing every request"
    assert estimate.seconds < 0.5
    estimate.observe(200, 0.05)  # what it lets through teaches it again
    assert estimate.seconds < 0.5


def test_only_successful_answers_teach_the_estimate():
    estimate = learned(0.05)
    estimate.observe(503, 3.0)
    assert estimate.seconds == 0.05
