"""The benchmark's quick mode, run once against real stacks: every output exists, parses and holds measurements."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from system_launcher.topology import STACKS
from tests.integration.harness import ROOT

# The whole quick run happens in the module fixture, counted against the first test's timeout.
pytestmark = pytest.mark.timeout(960)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run ``python -m benchmark all`` in quick mode into a temporary directory (what ``make study QUICK=1`` runs)."""
    out = tmp_path_factory.mktemp("bench")
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "SERVER_", "SCORING_", "MODEL_", "BENCH_"))
    }
    env = clean | {"QUICK": "1", "BENCH_OUT_DIR": str(out), "STACK_LOG_DIR": str(out / "log")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmark", "all"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert str(out) in done.stdout.splitlines()[-1]  # it ends by saying where the results went
    return out


def test_fingerprint_beside_every_phase(results):
    for directory in (results, results / "profiles", results / "timeit", results / "locust", results / "sweep"):
        fingerprint = json.loads((directory / "fingerprint.json").read_text())
        assert fingerprint["cpu_count"] >= 1
        assert fingerprint["git_sha"]
        assert fingerprint["packages"]["locust"]


@pytest.mark.parametrize("scenario", ["response_time", "load", "max", "stress"])
@pytest.mark.parametrize("stack", STACKS)
def test_locust_scenario_outputs(results, scenario, stack):
    locust = results / "locust"
    result = json.loads((locust / f"{scenario}_{stack}.json").read_text())
    assert result["whole"]["requests"] > 0
    if scenario == "response_time":
        assert result["whole"]["failures"] == 0  # one paced user: every answer must be the expected score
    # The ramp goes past the breaking point and stress is 3x it: there the stacks shed load and cut
    # requests at their deadline, 503s by design that Locust counts as failures.
    assert result["whole"]["stages_ms"]["total"] > 0  # Server-Timing was collected
    with (locust / f"{scenario}_{stack}_stats.csv").open() as source:
        aggregated = [row for row in csv.DictReader(source) if row["Name"] == "Aggregated"]
    assert int(aggregated[0]["Request Count"]) > 0
    for suffix in ("_stats_history.csv", "_failures.csv", ".html"):
        assert (locust / f"{scenario}_{stack}{suffix}").stat().st_size > 0


@pytest.mark.parametrize("scenario", ["response_time", "load"])
@pytest.mark.parametrize("stack", STACKS)
def test_low_load_and_the_ramp_also_run_straight_to_the_scoring_server(results, scenario, stack):
    result = json.loads((results / "locust" / f"{scenario}_{stack}_direct.json").read_text())
    assert result["whole"]["requests"] > 0
    assert result["whole"]["stages_ms"]["total"] > 0


def test_load_ramp_finds_a_breaking_point_for_both_stacks(results):
    for stack in STACKS:
        result = json.loads((results / "locust" / f"load_{stack}.json").read_text())
        assert len(result["steps"]) >= 2
        found = result["breaking_point"]
        if found is None:  # the rule found none: then even the first step broke it (a busy machine)
            first = min(result["steps"], key=lambda s: s["users"])
            assert first["failures"] > 0 or first["p95_ms"] >= result["p95_limit_ms"], first
        else:
            assert found["rps"] > 0


def test_cpu_bound_run_and_sweep_cover_both_stacks(results):
    for stack in STACKS:
        assert json.loads((results / "cpubound" / f"cpubound_{stack}.json").read_text())["whole"]["requests"] > 0
    sweep = [json.loads(p.read_text()) for p in (results / "sweep").glob("sweep_*.json")]
    assert {r["stack"] for r in sweep} == set(STACKS)
    assert all(r["whole"]["requests"] > 0 for r in sweep)


def test_timeit_csv_has_both_stacks(results):
    with (results / "timeit" / "timeit.csv").open() as source:
        rows = list(csv.DictReader(source))
    assert {r["stack"] for r in rows} == set(STACKS)
    assert all(float(r["seconds"]) > 0 for r in rows)


def test_profiles_of_every_service_and_tool(results):
    profiles = results / "profiles"
    for stack in STACKS:
        for service in ("client", "scoring", "model_a", "model_b"):
            for label in ("one", "burst"):
                assert (profiles / f"{stack}-{service}-pyinstrument-{label}.html").stat().st_size > 0
                assert (profiles / f"{stack}-{service}-pyinstrument-{label}.txt").stat().st_size > 0
                functions = json.loads((profiles / f"{stack}-{service}-yappi-{label}.json").read_text())["functions"]
                assert functions
                assert (profiles / f"{stack}-{service}-yappi-{label}.txt").stat().st_size > 0


def test_open_loop_curves_hold_every_step_of_every_variant(results):
    plan = json.loads((results / "curves" / "plan.json").read_text())
    for variant in plan["variants"]:
        ladder = json.loads((results / "curves" / f"{variant}_rep1.json").read_text())["steps"]
        assert [s["rate"] for s in ladder] == plan["rates"][: len(ladder)]
        for step in ladder:
            assert step["requests"] > 0
            assert step["outcomes"].get("wrong", 0) == 0  # every answer checked, none wrong
            assert step["stack_cpu_ms_per_request"] > 0
            assert step["histogram"]


def test_the_burst_scenario_counts_every_request(results):
    plan = json.loads((results / "burst" / "plan.json").read_text())
    for variant in plan["variants"]:
        result = json.loads((results / "burst" / f"{variant}_rep1.json").read_text())["result"]
        bursts = plan["duration_s"] // plan["period_s"]
        assert result["requests"] == bursts * plan["users"]
        assert result["outcomes"].get("wrong", 0) == 0


def test_job_mode_results_are_checked_and_timed(results):
    for stack in STACKS:
        found = json.loads((results / "jobs" / f"{stack}.json").read_text())
        assert found["predict"]["requests"] == found["submissions"]["requests"] > 0  # the same schedule, twice
        outcomes = found["jobs"]["outcomes"]
        assert outcomes.get("wrong", 0) == 0
        assert sum(outcomes.values()) >= found["accepted"] > 0  # every accepted submission has its record
        assert outcomes.get("ok", 0) > 0
        assert found["jobs"]["latency"]["count"] > 0


def test_the_transport_curves_ran_over_grpc_with_every_answer_checked(results):
    plan = json.loads((results / "transports" / "plan.json").read_text())
    for variant in plan["variants"]:
        steps = json.loads((results / "transports" / f"{variant}_rep1.json").read_text())["steps"]
        assert steps
        assert all(step["outcomes"].get("wrong", 0) == 0 for step in steps)
        assert sum(step["outcomes"].get("ok", 0) for step in steps) > 0


@pytest.mark.parametrize("plan", ["model_onnx", "model_accelerator", "model_batching_onnx"])
def test_the_model_serving_ladders_ran_with_every_answer_checked(results, plan):
    ran = json.loads((results / plan / "plan.json").read_text())
    for variant in ran["variants"]:
        steps = json.loads((results / plan / f"{variant}_rep1.json").read_text())["steps"]
        assert all(step["outcomes"].get("wrong", 0) == 0 for step in steps)  # the model kind's own answers
        assert sum(step["outcomes"].get("ok", 0) for step in steps) > 0


def test_the_generator_calibration_shows_the_stall_only_in_the_open_loop_tail(results):
    found = json.loads((results / "calibration" / "calibration.json").read_text())
    assert all(row["outcomes"] == {"ok": row["outcomes"].get("ok")} for row in found["precision"])
    tails = {row["tool"].split(",")[0]: row["p99_ms"] for row in found["stall"]}
    assert tails["open loop"] > 500
    assert tails["closed loop"] < 500


def test_report_embeds_existing_charts_and_both_stacks(results):
    report = (results / "report.md").read_text()
    assert "Smoke run (QUICK=1)" in report
    assert report.count("(smoke run: not a measurement)") >= 2  # in every open-loop headline
    for section in ("Machine and code", "Headline: capacity under open-loop load", "original study's traffic",
                    "How far the load generator can be trusted", "Where the delta comes from", "Capacity model",
                    "What the edge costs", "timeit",
                    "Configuration sweep", "Profiles", "When async helps"):  # fmt: skip
        assert section in report
    images = [line.split("](", 1)[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert len(images) >= 8
    for image in images:
        assert (results / image).read_bytes().startswith(b"\x89PNG")
