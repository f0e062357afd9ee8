"""Confidence intervals over repetitions, and the words a verdict may use: decided by the interval, never typed."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

Verdict = Literal["difference", "no_difference", "undecided"]
CONFIDENCE = 0.95
# A ratio whose whole interval lies within this band is "no difference larger than 10 %".
EQUIVALENCE = (0.9, 1.1)


@dataclass(frozen=True)
class Estimate:
    """A quantity measured ``n`` times: its median, and a 95 % interval for its typical value."""

    median: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        """``{median, ci_low, ci_high, n}``, as ``summary.json`` holds it."""
        return {"median": self.median, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class Ratio:
    """``a / b`` over paired repetitions, with its 95 % interval and the verdict that interval decides."""

    ratio: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def verdict(self) -> Verdict:
        """``difference`` when the interval excludes 1; ``no_difference`` when it lies within [0.9, 1.1]; else
        ``undecided``."""
        return verdict(self.ci_low, self.ci_high)

    def words(self, a: str, b: str, what: str = "") -> str:
        """The verdict in words: ``async is 2.10x sync [1.95-2.27]``, ``no difference larger than 10 % ...``, or
        ``undecided after 3 repetitions ...``."""
        span = f"[{self.ci_low:.2f}–{self.ci_high:.2f}]"
        subject = f"{what} of {a}" if what else a
        if self.verdict == "difference":
            return f"{subject} is {self.ratio:.2f}× {b}'s {span}" if what else f"{a} is {self.ratio:.2f}× {b} {span}"
        if self.verdict == "no_difference":
            return f"no difference larger than 10 % between {a} and {b}{f' in {what}' if what else ''} {span}"
        where = f" in {what}" if what else ""
        return f"undecided after {self.n} repetitions: {a} / {b}{where} is {self.ratio:.2f}× {span}"


def verdict(ci_low: float, ci_high: float) -> Verdict:
    """The only three things an interval of a ratio may say."""
    if ci_low > 1.0 or ci_high < 1.0:
        return "difference"
    if EQUIVALENCE[0] <= ci_low and ci_high <= EQUIVALENCE[1]:
        return "no_difference"
    return "undecided"


def resolution_sd(resolution: float) -> float:
    """The spread, in logs, of a value known only to within ``resolution`` of itself (a capacity search's bracket,
    5 %): uniform over the bracket, so its width over the square root of 12."""
    return math.log1p(resolution) / math.sqrt(12)


def estimate(values: Sequence[float], resolution: float = 0.0) -> Estimate:
    """The median of positive ``values`` and a 95 % t-interval of their typical (geometric-mean) value: logs make
    a rate's spread multiplicative, as it is. The spread is never taken below what the values' ``resolution``
    allows, so equal values of a coarse instrument still get an interval; one value has an interval of zero
    width, and says so with n=1."""
    logs = [math.log(v) for v in values]
    n = len(logs)
    spread = max(statistics.stdev(logs), resolution_sd(resolution)) if n >= 2 else 0.0
    if spread == 0:
        return Estimate(statistics.median(values), min(values), max(values), n)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * spread / math.sqrt(n)
    centre = statistics.fmean(logs)
    return Estimate(statistics.median(values), math.exp(centre - half), math.exp(centre + half), n)


def paired_ratio(a: Sequence[float], b: Sequence[float], resolution: float = 0.0) -> Ratio:
    """``a / b`` from repetitions measured in pairs (A then B, interleaved, so the machine's drift cancels): the
    geometric mean of the pairs' ratios and a 95 % t-interval of it, its spread never below what two values known
    to within ``resolution`` allow (pairs that agree exactly only because the search's steps are coarse decide no
    more than the steps do). Fewer than two pairs give no interval (``[0, inf]``: undecided)."""
    if len(a) != len(b) or not a:
        raise ValueError("a paired ratio needs as many repetitions of each side, at least one")
    logs = [math.log(x / y) for x, y in zip(a, b, strict=True)]
    n = len(logs)
    centre = statistics.fmean(logs)
    if n < 2:
        return Ratio(math.exp(centre), 0.0, math.inf, n)
    spread = max(statistics.stdev(logs), math.sqrt(2) * resolution_sd(resolution))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * spread / math.sqrt(n)
    return Ratio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), n)


def pairs_needed(a: Sequence[float], b: Sequence[float], target_half_width: float = math.log(1.1) / 2) -> int:
    """How many pairs the spread seen so far would take to narrow the interval's half-width (in logs) to
    ``target_half_width``: the arithmetic behind adding repetitions to an undecided comparison."""
    logs = [math.log(x / y) for x, y in zip(a, b, strict=True)]
    if len(logs) < 2:
        return len(logs) + 2
    spread = statistics.stdev(logs) or 1e-9
    n = len(logs)
    while stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * spread / math.sqrt(n) > target_half_width and n < 1000:
        n += 1
    return n


def unpaired_ratio(a: Sequence[float], b: Sequence[float], resolution: float = 0.0) -> Ratio:
    """``a / b`` from two independent sets of repetitions (two runs): the ratio of their geometric means and a 95 %
    Welch interval of it, each side's spread never below what its ``resolution`` allows. Fewer than two values on
    either side give no interval (undecided)."""
    la, lb = [math.log(x) for x in a], [math.log(x) for x in b]
    centre = statistics.fmean(la) - statistics.fmean(lb)
    if len(la) < 2 or len(lb) < 2:
        return Ratio(math.exp(centre), 0.0, math.inf, min(len(la), len(lb)))
    floor = resolution_sd(resolution) ** 2
    va, vb = max(statistics.variance(la), floor) / len(la), max(statistics.variance(lb), floor) / len(lb)
    se = math.sqrt(va + vb) or 1e-12
    df = (va + vb) ** 2 / ((va**2 / (len(la) - 1)) + (vb**2 / (len(lb) - 1))) if va + vb else len(la) + len(lb) - 2
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, df) * se
    return Ratio(math.exp(centre), math.exp(centre - half), math.exp(centre + half), min(len(la), len(lb)))
