"""The open-loop generator's schedules and latency histogram (pure pieces)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from benchmark.load.answers import Answers
from benchmark.load.expected import degraded_bodies, expected_body
from benchmark.load.latency import Latencies
from benchmark.load.schedule import arrivals


def test_constant_arrivals_are_evenly_spaced():
    offsets = list(arrivals("constant", 50, 2.0))
    assert len(offsets) == 100
    assert offsets[:3] == [0.0, 0.02, 0.04]
    assert max(offsets) < 2.0


def test_poisson_arrivals_are_seeded_and_average_the_rate():
    first, again, other = (list(arrivals("poisson", 200, 50.0, seed=s)) for s in (1, 1, 2))
    assert first == again != other
    assert len(first) == pytest.approx(10_000, rel=0.05)
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert statistics.mean(gaps) == pytest.approx(1 / 200, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / 200, rel=0.1)  # exponential: stdev equals the mean


def test_lockstep_sends_every_user_at_the_same_instant_each_period():
    offsets = list(arrivals("lockstep", 150, 3.0))
    assert len(offsets) == 450
    assert sorted(set(offsets)) == [0.0, 1.0, 2.0]
    assert offsets.count(1.0) == 150


@pytest.mark.parametrize("pattern", ["constant", "poisson", "lockstep"])
def test_a_schedule_needs_a_positive_rate(pattern):
    with pytest.raises(ValueError, match="positive"):
        arrivals(pattern, 0, 1.0)


def test_an_unknown_pattern_is_refused():
    with pytest.raises(ValueError, match="unknown pattern"):
        arrivals("zipf", 10, 1.0)


def test_latencies_report_percentiles_within_a_tenth_of_a_percent():
    latencies = Latencies()
    for ms in range(1, 1001):
        latencies.record(ms / 1000)
    summary = latencies.summary()
    assert summary["count"] == 1000
    assert summary["p50_ms"] == pytest.approx(500, rel=1e-3)
    assert summary["p99_ms"] == pytest.approx(990, rel=1e-3)
    assert summary["max_ms"] == pytest.approx(1000, rel=1e-3)


def test_latencies_survive_encoding_and_merge_across_repetitions():
    one, two = Latencies(), Latencies()
    for _ in range(100):
        one.record(0.010)
        two.record(0.030)
    merged = Latencies.merged([one.encoded(), two.encoded()])
    assert merged.count == 200
    assert Latencies.decoded(one.encoded()).summary() == one.summary()
    assert merged.summary()["p99_ms"] == pytest.approx(30, rel=1e-3)


def test_an_empty_histogram_has_no_percentiles():
    assert Latencies().summary()["p99_ms"] is None


def test_answers_judge_exact_degraded_wrong_and_status():
    answers = Answers("x", "/api/v1/ml/async/predict", entities=20)
    assert answers.verdict(7, 200, expected_body("7")) == "ok"
    assert answers.verdict(7, 200, degraded_bodies("7")[0]) == "degraded"
    assert answers.verdict(7, 200, expected_body("8")) == "wrong"
    assert answers.verdict(7, 503, b'{"status":503}') == "503"
    assert answers.requests[7].endswith(b'{"entity_id":"7"}')
    assert b"Content-Length: 17\r\n" in answers.requests[7]
