"""The answer's schedule on a fake clock: rounds across groups, the time cap, repetitions for undecided comparisons."""

from __future__ import annotations

import pytest

from benchmark.analysis.answer_summary import Measurement
from benchmark.experiments import answer
from benchmark.experiments.answer import AnswerRun, Group, Progress, Variant, measure_all
from benchmark.settings import BenchSettings

MEASUREMENT_S = 100.0


class Clock:
    """Time that passes only when a stack is measured."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class FakeRun(AnswerRun):
    """Measures nothing: each measurement takes ``MEASUREMENT_S`` of the fake clock and returns the given capacity."""

    def __init__(self, tmp_path, settings, clock, capacities) -> None:
        super().__init__(tmp_path, settings, lambda line: self.said.append(line))
        self.said: list[str] = []
        self.clock, self.capacities, self.order = clock, capacities, []

    def calibrate(self, group, progress) -> None:
        self.clock.now += MEASUREMENT_S * len(group.variants)
        self.common[group.name] = 10.0

    def measure(self, group, variant, repetition, progress) -> Measurement:
        self.clock.now += MEASUREMENT_S
        self.order.append((variant.name, repetition))
        capacity = self.capacities[variant.name](repetition)
        m = Measurement(variant.name, repetition, capacity, 0.05, 6, 2.0, 2.0, 0.3, 50.0, 60.0, MEASUREMENT_S)
        self.measurements.append(m)
        return m


def rung(name: str) -> Group:
    a, b = Variant(f"{name}-async", "async", name), Variant(f"{name}-sync", "sync", name)
    return Group(name, (a, b), ((a.name, b.name),))


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(answer.time, "monotonic", fake.monotonic)
    return fake


def schedule(tmp_path, clock, cap_s: float, capacities, groups, max_repetitions: int = 5) -> FakeRun:
    settings = BenchSettings(answer_repetitions=3, answer_max_repetitions=max_repetitions, answer_time_cap_s=cap_s)
    run = FakeRun(tmp_path, settings, clock, capacities)
    measure_all(run, groups, [], Progress(100, lambda _: None), 0.0)
    return run


def decided(name: str) -> dict:
    return {f"{name}-async": lambda r: 200.0 * (1 + 0.01 * r), f"{name}-sync": lambda r: 100.0}


def noisy(name: str) -> dict:
    return {f"{name}-async": lambda r: [150.0, 60.0, 140.0, 70.0, 130.0, 80.0][r], f"{name}-sync": lambda r: 100.0}


def test_rounds_go_across_the_groups_each_pair_side_by_side_in_turned_order(tmp_path, clock):
    run = schedule(tmp_path, clock, 10_000, decided("a") | decided("b"), [rung("a"), rung("b")])
    assert run.order == [("a-async", 0), ("a-sync", 0), ("b-async", 0), ("b-sync", 0),
                         ("a-sync", 1), ("a-async", 1), ("b-sync", 1), ("b-async", 1),
                         ("a-async", 2), ("a-sync", 2), ("b-async", 2), ("b-sync", 2)]  # fmt: skip
    assert run.skipped == []


def test_the_time_cap_skips_later_rounds_but_never_the_first_two(tmp_path, clock):
    # Calibration 400 s, two rounds 800 s: past the cap already, so the third round is skipped for both groups.
    run = schedule(tmp_path, clock, 1_000, decided("a") | decided("b"), [rung("a"), rung("b")])
    assert sorted({r for _, r in run.order}) == [0, 1]
    assert run.skipped == ["a #3", "b #3"]
    assert any("time cap (1000 s): skipped a #3, b #3" in line for line in run.said)


def test_a_round_starts_only_where_it_should_end_within_the_cap(tmp_path, clock):
    # 400 + 800 s, then a's third round (200 s) ends at 1,400 s: within 1,500; b's would end at 1,600.
    run = schedule(tmp_path, clock, 1_500, decided("a") | decided("b"), [rung("a"), rung("b")])
    assert ("a-async", 2) in run.order
    assert ("b-async", 2) not in run.order
    assert run.skipped == ["b #3"]
    assert clock.now <= 1_500


def test_undecided_comparisons_get_more_repetitions_while_they_fit(tmp_path, clock):
    run = schedule(tmp_path, clock, 10_000, noisy("a") | decided("b"), [rung("a"), rung("b")])
    assert max(r for name, r in run.order if name.startswith("a-")) == 4  # up to the 5 the settings allow
    assert max(r for name, r in run.order if name.startswith("b-")) == 2  # decided after the manifest's 3
    assert any("a undecided after 3 repetitions: one more" in line for line in run.said)
    tight = schedule(tmp_path, clock, 100_000, noisy("a"), [rung("a")], max_repetitions=3)
    assert max(r for _, r in tight.order) == 2
