"""Per-second samples of every Locust request: users, a latency histogram, failures, Server-Timing stage sums.

Locust's own CSVs give percentiles over a sliding window; these samples let the analysis compute exact
percentiles per ramp step and split client time into server stages. One JSON line per second, one file
per Locust process, written when the test stops (cheap: the load generator shares the cores).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmark.analysis.servertiming import parse_server_timing

STAGES = ("redis", "model_a", "model_b", "total")


class Bucket:
    """What happened during one second."""

    __slots__ = ("count", "failures", "hist", "stage_n", "stage_sums", "users")

    def __init__(self) -> None:
        self.users = 0
        self.count = 0
        self.failures = 0
        self.hist: Counter[int] = Counter()  # client response time rounded to 1 ms -> requests
        self.stage_n = 0
        self.stage_sums: dict[str, float] = defaultdict(float)

    def as_dict(self, second: int) -> dict:
        """The bucket as one JSON-ready record."""
        return {
            "t": second, "users": self.users, "count": self.count, "failures": self.failures,
            "hist": {str(ms): n for ms, n in sorted(self.hist.items())},
            "stage_n": self.stage_n, "stage_sums": dict(self.stage_sums),
        }  # fmt: skip


class Recorder:
    """Collects buckets from Locust's ``request`` event and writes them as JSON lines on ``quit``."""

    def __init__(self, path: Path, user_count) -> None:
        self.path = path
        self._user_count = user_count
        self._buckets: dict[int, Bucket] = defaultdict(Bucket)

    def on_request(self, response_time, exception=None, response=None, **_kwargs) -> None:
        """Record one request (successful or not)."""
        bucket = self._buckets[int(time.time())]
        bucket.users = max(bucket.users, self._user_count())
        bucket.count += 1
        bucket.hist[round(response_time)] += 1
        if exception is not None:
            bucket.failures += 1
            return
        stages = parse_server_timing(response.headers.get("Server-Timing") if response is not None else None)
        if "total" in stages:
            bucket.stage_n += 1
            bucket.stage_sums["client"] += response_time
            for name in STAGES:
                bucket.stage_sums[name] += stages.get(name, 0.0)
            # What the fan-out cost this request if parallel (the slower call) or sequential (both).
            bucket.stage_sums["models_max"] += max(stages.get("model_a", 0.0), stages.get("model_b", 0.0))

    def write(self, **_kwargs) -> None:
        """Write every bucket, oldest first (nothing when this process saw no request, e.g. a master)."""
        if not self._buckets:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w") as out:
            for second in sorted(self._buckets):
                out.write(json.dumps(self._buckets[second].as_dict(second)) + "\n")


def samples_path(directory: str, tag: str) -> Path:
    """One file per Locust process (workers and ``--processes`` children each write their own)."""
    return Path(directory) / f"samples-{tag}-{os.getpid()}.jsonl"
