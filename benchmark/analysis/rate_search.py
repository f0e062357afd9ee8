"""Searching the highest offered rate that meets the SLO, until the bracket around it is at most 5 % wide.

The search only decides the next rate to offer; the caller runs each probe (open-loop, every answer checked) and
tells it whether the probe met the SLO. From a first guess it steps up (or down) until one rate passes and a higher
one fails, each step the square of the last (a first step of 1.1 from a known capacity grows to 1.21, 1.46, 2.1...,
so that a wrong guess costs a few probes, not dozens), then bisects the bracket. A variant that fails even at the
floor has no capacity under the SLO. Each probe's outcome is noisy near capacity, so a capacity is measured several
times, interleaved with the variants it is compared with; the intervals over those repetitions carry the noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

P99_LIMIT_MS = 100.0
FAILED_LIMIT = 0.001  # at most 0.1 % of answers wrong, failed or late
RESOLUTION = 0.05  # the bracket's width relative to its lower end


@dataclass(frozen=True)
class Probe:
    """What one probe at ``rate`` saw."""

    rate: float
    p99_ms: float
    answered: int
    failed: int  # wrong answers, errors, timeouts

    @property
    def passed(self) -> bool:
        """Whether it met the SLO: p99 at most 100 ms and at most 0.1 % failed."""
        return self.answered > 0 and self.p99_ms <= P99_LIMIT_MS and self.failed <= FAILED_LIMIT * self.answered


@dataclass
class RateSearch:
    """The bracket [highest rate that passed, lowest rate that failed], narrowed probe by probe."""

    first_rate: float
    floor: float = 1.0  # no capacity below it is worth resolving
    ceiling: float = 100_000.0
    resolution: float = RESOLUTION
    growth: float = 2.0  # the first step while one side of the bracket is missing (1.1 from a known capacity)
    max_growth: float = 4.0
    passed: float | None = None
    failed: float | None = None
    probes: list[Probe] = field(default_factory=list)

    def next_rate(self) -> float | None:
        """The rate to offer next, or None once the bracket is narrow enough (or hits the floor or ceiling)."""
        if self.passed is None and self.failed is None:
            return self.first_rate
        if self.passed is None:
            lower = self.failed / self.step()  # type: ignore[operator]
            if lower < self.floor:
                # The floor itself is the last rate worth offering: below it, no capacity is worth resolving.
                return None if self.failed <= self.floor else self.floor  # type: ignore[operator]
            return lower
        if self.failed is None:
            higher = self.passed * self.step()
            return None if higher > self.ceiling else higher
        if self.failed - self.passed <= self.resolution * self.passed:
            return None
        return (self.passed + self.failed) / 2

    def step(self) -> float:
        """The factor of the next step outside a bracket: ``growth``, squared at each probe since the first that
        left the same side missing."""
        one_sided = 0
        for probe in reversed(self.probes):
            if probe.passed != self.probes[-1].passed:
                break
            one_sided += 1
        return min(self.max_growth, self.growth ** (2 ** max(0, one_sided - 1)))

    def record(self, probe: Probe) -> None:
        """Narrow the bracket with one probe's outcome (a pass above a failure moves the failure up: the last word
        at a rate is its latest probe)."""
        self.probes.append(probe)
        if probe.passed:
            self.passed = probe.rate if self.passed is None else max(self.passed, probe.rate)
            if self.failed is not None and self.failed <= probe.rate:
                self.failed = None
        else:
            self.failed = probe.rate if self.failed is None else min(self.failed, probe.rate)
            if self.passed is not None and self.passed >= probe.rate:
                self.passed = None

    @property
    def capacity(self) -> float:
        """The highest rate that met the SLO (0 if none did)."""
        return self.passed or 0.0

    @property
    def width(self) -> float | None:
        """The bracket's width relative to its lower end, once there is one."""
        if self.passed is None or self.failed is None:
            return None
        return (self.failed - self.passed) / self.passed
