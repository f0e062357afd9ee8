"""Latencies in an HDR histogram: fixed relative error (0.1 %) from 1 µs to 2 minutes, mergeable across runs."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000
SIGNIFICANT_DIGITS = 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}


class Latencies:
    """Records seconds, answers percentiles in milliseconds; ``encoded`` stores it whole beside a result."""

    def __init__(self, histogram: HdrHistogram | None = None) -> None:
        self.histogram = histogram or HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record(self, seconds: float) -> None:
        """One latency (clamped into the histogram's range: a value beyond 2 minutes counts as 2 minutes)."""
        self.histogram.record_value(min(HIGHEST_US, max(LOWEST_US, int(seconds * 1e6))))

    @property
    def count(self) -> int:
        """How many latencies it holds."""
        return self.histogram.get_total_count()

    def summary(self) -> dict[str, float | int | None]:
        """Count, mean, the percentiles of ``PERCENTILES`` and the maximum, in milliseconds (None when empty)."""
        if self.count == 0:
            return {"count": 0, "mean_ms": None, "max_ms": None} | {f"{name}_ms": None for name in PERCENTILES}
        values = self.histogram.get_percentile_to_value_dict(list(PERCENTILES.values()))
        return {
            "count": self.count,
            "mean_ms": round(self.histogram.get_mean_value() / 1000, 3),
            **{f"{name}_ms": round(values[p] / 1000, 3) for name, p in PERCENTILES.items()},
            "max_ms": round(self.histogram.get_max_value() / 1000, 3),
        }

    def encoded(self) -> str:
        """The whole histogram, compressed and base64-encoded (HdrHistogram's interchange format)."""
        return self.histogram.encode().decode()

    @classmethod
    def decoded(cls, text: str) -> Latencies:
        """A histogram back from ``encoded``."""
        return cls(HdrHistogram.decode(text.encode()))

    @classmethod
    def merged(cls, encoded: list[str]) -> Latencies:
        """One histogram holding every latency of several encoded ones (repetitions of the same step)."""
        total = cls()
        for text in encoded:
            total.histogram.add(HdrHistogram.decode(text.encode()))
        return total
