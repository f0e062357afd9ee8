"""The rate search, the intervals and the verdict rule, on synthetic samples whose answers are known."""

from __future__ import annotations

import math
import random

import pytest

from benchmark.analysis.intervals import estimate, paired_ratio, pairs_needed, verdict
from benchmark.analysis.rate_search import Probe, RateSearch


def search(true_capacity: float, first: float, noise: float = 0.0, seed: int = 1) -> RateSearch:
    """A search against a stack whose p99 crosses 100 ms exactly at ``true_capacity`` (times a little noise)."""
    rng = random.Random(seed)
    found = RateSearch(first_rate=first)
    while (rate := found.next_rate()) is not None:
        limit = true_capacity * (1 + rng.uniform(-noise, noise))
        found.record(Probe(rate, p99_ms=50.0 if rate <= limit else 300.0, answered=1000, failed=0))
    return found


@pytest.mark.parametrize("first", [10.0, 180.0, 5000.0])
@pytest.mark.parametrize("true_capacity", [37.0, 212.0, 1500.0])
def test_the_search_brackets_the_capacity_within_five_percent(first, true_capacity):
    found = search(true_capacity, first)
    assert found.width is not None
    assert found.width <= 0.05
    assert found.capacity <= true_capacity < found.failed  # the bracket holds the true capacity
    assert len(found.probes) <= 20


def test_a_search_from_a_known_capacity_takes_few_probes():
    found = RateSearch(first_rate=200.0, growth=1.1)
    while (rate := found.next_rate()) is not None:
        found.record(Probe(rate, p99_ms=50.0 if rate <= 207.0 else 300.0, answered=1000, failed=0))
    assert found.capacity <= 207.0 < found.failed
    assert len(found.probes) <= 4


@pytest.mark.parametrize("true_capacity", [15.0, 2000.0])
def test_a_search_from_a_wrong_guess_lengthens_its_steps(true_capacity):
    found = RateSearch(first_rate=200.0, growth=1.1)
    while (rate := found.next_rate()) is not None:
        found.record(Probe(rate, p99_ms=50.0 if rate <= true_capacity else 300.0, answered=1000, failed=0))
    assert found.capacity <= true_capacity < found.failed
    assert len(found.probes) <= 14  # steps of 1.1 throughout would take 28 probes to reach 15 req/s


def test_a_probe_fails_on_its_tail_or_on_its_failures():
    assert Probe(100, 99.9, 1000, 1).passed
    assert not Probe(100, 100.1, 1000, 0).passed
    assert not Probe(100, 10.0, 1000, 2).passed  # 0.2 % failed
    assert not Probe(100, 10.0, 0, 0).passed  # nothing answered is no pass


def test_a_stack_that_never_meets_the_slo_has_no_capacity():
    found = RateSearch(first_rate=8.0, floor=1.0)
    while (rate := found.next_rate()) is not None:
        found.record(Probe(rate, 500.0, 10, 0))
    assert found.capacity == 0.0
    assert min(p.rate for p in found.probes) == 1.0  # the floor itself was offered, and nothing below it


def test_a_search_from_a_known_capacity_gives_up_at_the_floor_in_few_probes():
    found = RateSearch(first_rate=50.0, floor=2.0, growth=1.1)
    while (rate := found.next_rate()) is not None:
        found.record(Probe(rate, 150.0, 10, 0))  # a latency floor above the SLO: no rate meets it
    assert found.capacity == 0.0
    assert found.probes[-1].rate == 2.0
    assert len(found.probes) <= 8


@pytest.mark.parametrize(("low", "high", "expected"), [
    (1.2, 1.5, "difference"), (0.5, 0.8, "difference"), (0.95, 1.05, "no_difference"), (0.9, 1.1, "no_difference"),
    (0.85, 1.05, "undecided"), (0.99, 1.2, "undecided"), (0.0, math.inf, "undecided"),
])  # fmt: skip
def test_the_verdict_is_read_from_the_interval_alone(low, high, expected):
    assert verdict(low, high) == expected


def test_a_paired_ratio_finds_a_true_factor_and_its_interval_holds_it():
    rng = random.Random(7)
    covered = 0
    for _ in range(400):  # the interval's coverage, checked: about 95 % of intervals hold the true ratio
        b = [rng.uniform(90, 110) for _ in range(5)]
        a = [2.0 * x * math.exp(rng.gauss(0, 0.05)) for x in b]
        ratio = paired_ratio(a, b)
        covered += ratio.ci_low <= 2.0 <= ratio.ci_high
    assert 0.90 <= covered / 400 <= 0.99
    assert ratio.verdict == "difference"
    assert ratio.words("async", "sync") == f"async is {ratio.ratio:.2f}× sync [{ratio.ci_low:.2f}–{ratio.ci_high:.2f}]"


def test_equal_stacks_are_no_difference_once_measured_enough():
    rng = random.Random(3)
    b = [rng.uniform(95, 105) for _ in range(8)]
    a = [x * math.exp(rng.gauss(0, 0.01)) for x in b]
    assert paired_ratio(a, b).verdict == "no_difference"


def test_one_pair_decides_nothing_and_a_wide_spread_stays_undecided():
    assert paired_ratio([200.0], [100.0]).verdict == "undecided"
    noisy = paired_ratio([150.0, 80.0, 130.0], [100.0, 100.0, 100.0])
    assert noisy.verdict == "undecided"
    assert noisy.words("a", "b").startswith("undecided after 3 repetitions")
    assert pairs_needed([150.0, 80.0, 130.0], [100.0, 100.0, 100.0]) > 3


def test_an_estimate_is_the_median_with_an_interval_around_the_typical_value():
    one = estimate([120.0])
    assert (one.median, one.ci_low, one.ci_high, one.n) == (120.0, 120.0, 120.0, 1)
    several = estimate([100.0, 110.0, 105.0, 95.0])
    assert several.median == 102.5
    assert several.ci_low < 102.5 < several.ci_high
    assert several.as_dict()["n"] == 4


def test_pairs_that_agree_only_to_the_searchs_resolution_still_get_an_interval():
    exact = paired_ratio([154.0, 308.0], [100.0, 200.0])  # two pairs, one ratio: a spread of zero
    coarse = paired_ratio([154.0, 308.0], [100.0, 200.0], resolution=0.05)
    assert exact.ci_low == exact.ci_high == pytest.approx(1.54)
    assert coarse.ci_low < 1.54 < coarse.ci_high
    # Two values each uniform within a 5 % bracket: a spread of sqrt(2) * log(1.05) / sqrt(12), t with 1 degree.
    half = 12.706 * math.sqrt(2) * math.log(1.05) / math.sqrt(12) / math.sqrt(2)
    assert math.log(coarse.ci_high / coarse.ratio) == pytest.approx(half, rel=1e-3)
    assert coarse.verdict == "difference"
    noisy = paired_ratio([150.0, 80.0, 130.0], [100.0, 100.0, 100.0])
    assert paired_ratio([150.0, 80.0, 130.0], [100.0, 100.0, 100.0], resolution=0.05) == noisy  # spread beyond it


def test_an_estimate_of_equal_values_of_a_coarse_instrument_has_an_interval():
    assert estimate([200.0, 200.0]).ci_low == estimate([200.0, 200.0]).ci_high == 200.0
    coarse = estimate([200.0, 200.0], resolution=0.05)
    assert coarse.ci_low < 200.0 < coarse.ci_high
    assert estimate([120.0], resolution=0.05).ci_low == 120.0  # one value still says n=1, not an interval
