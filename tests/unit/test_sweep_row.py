"""The sweep's peak counts answers, not the fast failures a collapsing variant returns."""

from __future__ import annotations

from benchmark.report.figures import sweep_row


def _step(users: int, requests: int, failures: int, seconds: int = 10) -> dict:
    return {"users": users, "seconds": seconds, "requests": requests, "failures": failures,
            "rps": requests / seconds, "p99_ms": 10.0 * users}  # fmt: skip


def _result(steps: list[dict]) -> dict:
    return {"name": "sweep_v", "stack": "sync", "env": {}, "steps": steps, "breaking_point": None,
            "whole": {"failures": sum(s["failures"] for s in steps)}}  # fmt: skip


def test_the_peak_is_the_step_with_the_most_answers_not_the_most_responses():
    row = sweep_row(_result([_step(8, 2000, 0), _step(16, 9000, 8500)]))
    assert row["peak_ok_rps"] == 200.0
    assert row["peak_p99_ms"] == 80.0


def test_a_ramp_without_steps_has_no_peak():
    row = sweep_row(_result([]))
    assert row["peak_ok_rps"] is None
