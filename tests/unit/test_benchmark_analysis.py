"""The benchmark's pure parts: Server-Timing parsing, step windows, the breaking-point rule, the decomposition."""

from __future__ import annotations

import json

import pytest

from benchmark.analysis.curves import beyond_spread, spread
from benchmark.analysis.decompose import decompose, expected_inference_ms
from benchmark.analysis.servertiming import parse_server_timing
from benchmark.analysis.windows import Window, breaking_point, steps
from benchmark.load.expected import (
    degraded_bodies,
    expected_answer,
    expected_body,
    expected_features,
    expected_score,
)
from benchmark.report.openloop import common_rate


def sample(t: int, users: int, latencies: dict[int, int], failures: int = 0) -> dict:
    return {"t": t, "users": users, "count": sum(latencies.values()), "failures": failures,
            "hist": {str(ms): n for ms, n in latencies.items()}, "stage_n": 0, "stage_sums": {}}  # fmt: skip


def test_server_timing_is_parsed_and_malformed_entries_skipped():
    header = "redis;dur=0.412, model_a;dur=45.1, model_b;desc=x;dur=44, total;dur=48.9, bad;dur=x, nodur"
    assert parse_server_timing(header) == {"redis": 0.412, "model_a": 45.1, "model_b": 44.0, "total": 48.9}
    assert parse_server_timing(None) == {}


def test_window_percentiles_come_from_the_histogram():
    window = Window()
    window.add(sample(0, 1, {10: 90, 200: 10}))
    assert window.percentile(50) == 10
    assert window.percentile(95) == 200
    assert window.rps() == 100


def test_steps_group_seconds_by_user_count_and_drop_settling_seconds():
    samples = [sample(t, 10, {50: 1}) for t in range(5)] + [sample(t, 20, {80: 1}) for t in range(5, 10)]
    windows = steps(samples, settle_s=2)
    assert [(w.users, w.seconds) for w in windows] == [(10, 3), (20, 3)]


def test_breaking_point_is_the_last_step_before_the_rule_first_fails():
    ok = [sample(0, 10, {50: 100}), sample(1, 20, {60: 100})]
    slow = sample(2, 30, {50: 90, 150: 10})
    failing = sample(3, 40, {50: 100}, failures=1)
    windows = [steps([s], 0)[0] for s in [*ok, slow, failing]]
    assert breaking_point(windows, p95_limit_ms=100).users == 20
    assert breaking_point(windows[2:], p95_limit_ms=100) is None


def test_decomposition_parts_add_up_to_the_client_time():
    stages = {"client": 60.0, "total": 55.0, "redis": 1.0, "model_a": 47.0, "model_b": 49.0, "models_max": 50.0}
    parallel = decompose(stages, "parallel", expected_inference_ms("parallel", 40, 50, 0))
    assert sum(parallel.values()) == pytest.approx(60.0)
    assert parallel["outside handler"] == pytest.approx(5.0)
    assert parallel["simulated inference"] == pytest.approx(40 + 20 / 3)
    sequential = decompose(stages, "sequential", expected_inference_ms("sequential", 40, 50, 0))
    assert sequential["simulated inference"] == pytest.approx(90.0)
    assert sum(sequential.values()) == pytest.approx(60.0)


def test_the_expected_answer_is_the_references_combination_for_the_seeded_features():
    answer = expected_answer("42", expected_features("42"))
    assert [m.model for m in answer.models] == ["model_a", "model_b"]
    assert answer.score == pytest.approx(sum(m.prediction for m in answer.models) / 2)
    assert expected_score("42") == answer.score
    assert expected_body("42") == answer.model_dump_json().encode()
    left_out = [json.loads(body) for body in degraded_bodies("42")]
    assert [(d["degraded"], [m["model"] for m in d["models"]]) for d in left_out] == [
        (["model_a"], ["model_b"]),
        (["model_b"], ["model_a"]),
    ]


def test_a_difference_is_judged_against_the_spread_only_with_repetitions():
    one, other = spread([10.0]), spread([30.0])
    assert beyond_spread(one, other) is None  # one run each: no spread to judge by
    assert beyond_spread(spread([10.0, 12.0]), spread([30.0, 31.0])) is True
    assert beyond_spread(spread([10.0, 30.0]), spread([20.0, 40.0])) is False


PLAN = {"p99_limit_ms": 100, "error_limit": 0.001}


def _ladder(*steps: tuple[float, float, float]) -> dict:
    return {"steps": [{"rate": rate, "p99_ms": p99, "error_rate": errors} for rate, p99, errors in steps]}


def test_the_common_rate_is_where_every_variant_passes_by_its_median_over_repetitions():
    ladders = {
        # One noisy step (100 req/s of the first repetition) does not rule 100 req/s out: the median passes.
        "a": [
            _ladder((50, 60, 0), (100, 140, 0), (200, 90, 0)),
            _ladder((50, 61, 0), (100, 70, 0), (200, 95, 0)),
            _ladder((50, 59, 0), (100, 72, 0), (200, 130, 0)),
        ],
        "b": [
            _ladder((50, 60, 0), (100, 80, 0)),
            _ladder((50, 60, 0), (100, 85, 0)),
            _ladder((50, 60, 0), (100, 99, 0)),
        ],
    }
    assert common_rate(ladders, PLAN) == 100  # a passes 200 by its median (95 ms), but b was never offered it


def test_the_common_rate_needs_every_repetition_to_have_been_offered_the_rate_and_few_failures():
    ladders = {
        "a": [_ladder((50, 60, 0), (100, 70, 0)), _ladder((50, 60, 0))],  # the second stopped before 100
        "b": [_ladder((50, 60, 0.01), (100, 70, 0)), _ladder((50, 60, 0.01), (100, 70, 0))],
    }
    assert common_rate(ladders, PLAN) is None  # a: 100 not offered twice; b: 50 failed too many answers
    assert common_rate({"a": ladders["a"]}, PLAN) == 50
