"""From per-second samples to per-step figures: throughput, exact percentiles, failures, stage means."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PERCENTILES = (50, 95, 99)


@dataclass
class Window:
    """Requests merged over some seconds: a latency histogram, failures and Server-Timing sums."""

    seconds: int = 0
    users: int = 0
    count: int = 0
    failures: int = 0
    hist: Counter = field(default_factory=Counter)
    stage_n: int = 0
    stage_sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, sample: dict) -> None:
        """Merge one second's sample."""
        self.seconds += 1
        self.users = max(self.users, sample["users"])
        self.count += sample["count"]
        self.failures += sample["failures"]
        self.hist.update({int(ms): n for ms, n in sample["hist"].items()})
        self.stage_n += sample["stage_n"]
        for name, value in sample["stage_sums"].items():
            self.stage_sums[name] += value

    def rps(self) -> float:
        """Requests per second over the window."""
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, pct: float) -> float | None:
        """The client response time (ms) under which ``pct`` % of requests finished."""
        if not self.count:
            return None
        rank, seen = pct / 100 * self.count, 0
        for ms in sorted(self.hist):
            seen += self.hist[ms]
            if seen >= rank:
                return float(ms)
        return float(max(self.hist))

    def stage_means(self) -> dict[str, float]:
        """Mean milliseconds of each stage (and of the client time) over successful timed requests."""
        return {name: value / self.stage_n for name, value in self.stage_sums.items()} if self.stage_n else {}

    def summary(self) -> dict:
        """The window's figures as a flat record."""
        return {
            "users": self.users, "seconds": self.seconds, "requests": self.count, "failures": self.failures,
            "rps": round(self.rps(), 1), **{f"p{p}_ms": self.percentile(p) for p in PERCENTILES},
            "stages_ms": {k: round(v, 3) for k, v in self.stage_means().items()},
        }  # fmt: skip


def load_samples(paths: list[str] | list[Path]) -> list[dict]:
    """Every process's samples merged per second (distributed runs write one file per process)."""
    merged: dict[int, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            sample = json.loads(line)
            empty = {"t": sample["t"], "users": 0, "count": 0, "failures": 0, "hist": Counter(), "stage_n": 0,
                     "stage_sums": Counter()}  # fmt: skip
            into = merged.setdefault(sample["t"], empty)
            for key in ("users", "count", "failures", "stage_n"):
                into[key] += sample[key]
            into["hist"].update({str(k): v for k, v in sample["hist"].items()})
            into["stage_sums"].update(sample["stage_sums"])
    return [merged[t] for t in sorted(merged)]


def whole(samples: list[dict], skip_s: int = 0) -> Window:
    """One window over the run, without its first ``skip_s`` seconds (connections and spawning)."""
    window = Window()
    for sample in samples[skip_s:]:
        window.add(sample)
    return window


def steps(samples: list[dict], settle_s: int) -> list[Window]:
    """One window per ramp step (consecutive seconds with the same user count), minus its first seconds."""
    runs: list[list[dict]] = []
    for sample in samples:
        if runs and runs[-1][0]["users"] == sample["users"]:
            runs[-1].append(sample)
        else:
            runs.append([sample])
    windows = []
    for run in runs:
        kept = run[settle_s:] if len(run) > settle_s + 1 else run[-1:]
        window = Window()
        for sample in kept:
            window.add(sample)
        windows.append(window)
    return windows


def breaking_point(windows: list[Window], p95_limit_ms: float) -> Window | None:
    """The rule: the highest-load step whose p95 is under the limit with zero failures, before any step fails it."""
    best = None
    for window in sorted(windows, key=lambda w: w.users):
        p95 = window.percentile(95)
        if window.count == 0 or window.failures > 0 or p95 is None or p95 >= p95_limit_ms:
            break
        best = window
    return best
