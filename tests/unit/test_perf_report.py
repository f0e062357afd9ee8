"""make perf's report: the distance of each stack to its minimal twin, in all and by process."""

from __future__ import annotations

from benchmark.experiments.perf import edge_cost, floor_distance, render


def _step(connections: int, cpu: float, parts: dict[str, float], p99: float = 80.0) -> dict:
    return {"connections": connections, "requests": 1000, "rps": 500.0, "p50_ms": 50.0, "p90_ms": 60.0,
            "p99_ms": p99, "max_ms": 120.0, "errors": 0, "cpu_ms_per_request": cpu,
            "client_cpu_ms_per_request": 0.05, "cpu_ms_by_part": parts}  # fmt: skip


def _result(build: str, steps: list[dict], path: str = "direct", p50_1: float = 50.0) -> dict:  # the stack is sync
    best = max((s for s in steps if s["p99_ms"] <= 100), key=lambda s: s["rps"], default=None)
    return {"stack": "sync", "path": path, "build": build, "steps": steps, "p50_at_1_connection_ms": p50_1,
            "best_within_p99": best, "rss_after_warmup_mib": 300.0, "rss_after_run_mib": 310.0,
            "requests_before_rss_check": 2000}  # fmt: skip


RESULTS = [
    _result("full", [_step(32, 4.3, {"redis": 0.05, "scoring": 2.45, "model_a": 0.9, "model_b": 0.9})]),
    _result("minimal", [_step(32, 1.8, {"redis": 0.04, "scoring": 1.26, "model_a": 0.25, "model_b": 0.25})]),
    _result(
        "full-granian",
        p50_1=49.0,
        steps=[_step(32, 2.8, {"redis": 0.04, "scoring": 1.68, "model_a": 0.53, "model_b": 0.53})],
    ),
]
META = {"tool": "wrk", "step_s": 10, "when": "2026-11-23 12:00 UTC",
        "fingerprint": {"cpu_count": 2, "git_sha": "0" * 40,
                        "services": {"model": {"wait_min_ms": 40, "wait_max_ms": 50, "cpu_ms": 0},
                                     "scoring": {"fanout": 2}}}}  # fmt: skip


def test_the_distance_to_the_twin_is_split_by_process():
    row, on_granian = floor_distance(RESULTS, connections=(32,))
    assert (row["build"], on_granian["build"]) == ("full", "full-granian")
    assert on_granian["parts"]["scoring"] == (1.68, 1.26)
    assert row["parts"] == {"redis": (0.05, 0.04), "scoring": (2.45, 1.26), "model_a": (0.9, 0.25),
                            "model_b": (0.9, 0.25)}  # fmt: skip


def test_the_report_gives_each_process_its_difference():
    table = render(RESULTS, META)
    assert "| sync | 32 | 4.3 / 1.8 = 2.39× |" in table
    assert "| sync | 32 | scoring | 2.45 | 1.26 | +1.190 |" in table
    assert "| sync | 32 | model_a | 0.9 | 0.25 | +0.650 |" in table
    assert "| sync on Granian | 32 | 2.8 / 1.8 = 1.56× |" in table
    assert "| sync on Granian | 32 | model_b | 0.53 | 0.25 | +0.280 |" in table


def test_results_recorded_before_the_split_leave_the_section_out():
    old = [_result(r["build"], [{k: v for k, v in s.items() if k != "cpu_ms_by_part"} for s in r["steps"]])
           for r in RESULTS]  # fmt: skip
    table = render(old, META)
    assert "| sync | 32 | 4.3 / 1.8 = 2.39× |" in table
    assert "| sync on Granian | 32 | 2.8 / 1.8 = 1.56× |" in table
    assert "by process" not in table


def test_the_edge_is_compared_with_the_same_stack_direct_never_with_its_run_on_granian():
    results = [_result("full", [_step(32, 4.5, {})], path="edge", p50_1=51.5), *RESULTS]
    (row,) = edge_cost(results)
    assert (row["p50_1_edge_ms"], row["p50_1_direct_ms"]) == (51.5, 50.0)
    assert (row["cpu_edge_ms"], row["cpu_direct_ms"]) == (4.5, 4.3)


def test_the_edge_stays_out_of_the_stacks_cpu_and_of_the_distance_to_the_twin_but_counts_in_its_own_cost():
    through_edge = _step(32, 4.3, {"redis": 0.05, "scoring": 2.45, "model_a": 0.9, "model_b": 0.9, "edge": 0.6})
    through_edge["edge_cpu_ms_per_request"] = 0.6
    direct = _step(32, 4.3, {"redis": 0.05, "scoring": 2.45, "model_a": 0.9, "model_b": 0.9, "edge": 0.01})
    direct["edge_cpu_ms_per_request"] = 0.01
    results = [_result("full", [through_edge], path="edge"), _result("full", [direct]), RESULTS[1]]
    (cost,) = edge_cost(results)
    assert (cost["cpu_edge_ms"], cost["cpu_direct_ms"]) == (4.9, 4.31)
    (row,) = floor_distance(results, connections=(32,))
    assert (row["cpu_full_ms"], row["cpu_minimal_ms"]) == (4.3, 1.8)
    assert "edge" not in row["parts"]
    assert "| 4.3 + 0.6 + 0.05 = 4.950 |" in render(results, META)
