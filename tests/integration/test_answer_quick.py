"""``python -m benchmark answer`` in quick mode against real minimal twins: a run directory with a summary that follows
the schema, its pages and charts, and nothing written into the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.harness import ROOT

pytestmark = pytest.mark.timeout(900)
VARIANTS = ["minimal-async", "minimal-sync"]


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "doc", "README.md"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One quick run of the minimal twins, two repetitions each, into a temporary run directory."""
    out = tmp_path_factory.mktemp("answer") / "run"
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "SERVER_", "SCORING_", "MODEL_", "BENCH_"))
    }
    before = _status()
    command = [sys.executable, "-m", "benchmark", "answer", "--variants", *VARIANTS, "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=clean | {"QUICK": "1"}, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _status() == before  # a run writes its own directory only (--publish writes doc/ and the README)
    return out, done.stdout


def test_the_summary_follows_the_schema(run):
    out, _ = run
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["variants"]) == set(VARIANTS)
    for variant in summary["variants"].values():
        for metric in ("capacity_rps", "cpu_ms_per_request"):
            assert {"median", "ci_low", "ci_high"} <= variant[metric].keys()
        assert variant["p50_ms"] > 0
        assert variant["p99_ms"] >= variant["p50_ms"]
    capacity = next(c for c in summary["comparisons"] if c["metric"] == "capacity_rps")
    assert (capacity["a"], capacity["b"]) == ("minimal-async", "minimal-sync")
    assert capacity["verdict"] in {"difference", "no_difference", "undecided"}
    assert {"ratio", "ci_low", "ci_high"} <= capacity.keys()
    for name in VARIANTS:
        assert {"cpu_s_per_1000", "cores_per_1000_rps", "usd_per_million"} <= summary["cost"][name].keys()
    assert summary["fingerprint"]["code_sha"]
    assert len(summary["measurements"]) == 2 * len(VARIANTS)


def test_every_probe_checked_every_answer(run):
    out, _ = run
    probes = [json.loads(line) for line in (out / "probes.jsonl").read_text().splitlines()]
    assert probes
    assert all(p["answered"] > 0 for p in probes)
    assert {p["variant"] for p in probes} == set(VARIANTS)


def test_the_run_ends_with_the_table_and_its_pages(run):
    out, stdout = run
    assert "capacity, req/s [95 % CI]" in stdout
    assert "minimal-async" in stdout.split("capacity, req/s")[1]
    assert "min left]" in stdout  # progress with an estimate of the time left
    assert (out / "answer.md").read_text().startswith("# The answer")
    assert (out / "figures" / "headline.png").stat().st_size > 0
