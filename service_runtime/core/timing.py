"""Per-request stage timings, sent back as a ``Server-Timing`` header (milliseconds).

Scoring sends ``redis``, ``model_a``, ``model_b`` and ``total``; a model sends ``inference`` and
``total``. The benchmark reads them to split end-to-end latency into its stages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

SERVER_TIMING = "Server-Timing"


class Stages:
    """Durations of the named stages of one request, measured from its start."""

    __slots__ = ("_durations", "_failed", "_start")

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._durations: dict[str, float] = {}
        self._failed: dict[str, str] = {}

    def record(self, name: str, seconds: float) -> None:
        """Record a stage measured elsewhere (safe from another thread: one key per stage)."""
        self._durations[name] = seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage ``name``, also when it raises."""
        started = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            if _is_outage(exc):
                self._failed[name] = _reason(exc)
            raise
        finally:
            self._durations[name] = time.perf_counter() - started

    def failures(self) -> dict[str, str]:
        """Stages that failed as an outage (not a client or data error), with a short reason."""
        return dict(self._failed)

    def durations(self) -> dict[str, float]:
        """Every recorded stage plus ``total`` so far, in seconds."""
        return {**self._durations, "total": time.perf_counter() - self._start}

    def header(self) -> str:
        """The ``Server-Timing`` value: ``redis;dur=0.412, model_a;dur=45.118, ..., total;dur=48.9``."""
        return ", ".join(f"{name};dur={seconds * 1000:.3f}" for name, seconds in self.durations().items())


def _is_outage(exc: BaseException) -> bool:
    # An error with an HTTP status below 500 (a bad record: 404, 422) is the data's fault, not the dependency's.
    return getattr(exc, "status", 500) >= 500


def _reason(exc: BaseException) -> str:
    return getattr(exc, "code", None) or type(exc).__name__
