"""``python -m benchmark compare RUN_A RUN_B``: what changed between two runs, each figure with its 95 % interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.analysis.answer_summary import by_variant, measurements_of, resolution
from benchmark.analysis.intervals import unpaired_ratio

METRICS = (("capacity_rps", "capacity"), ("cpu_ms_per_request", "CPU per request"))


def load(run: Path) -> dict[str, Any]:
    """A run's summary: the run directory (or the summary file itself)."""
    path = run / "summary.json" if run.is_dir() else run
    if not path.exists():
        raise SystemExit(f"{path}: no summary.json (a run of make answer or make bench writes one)")
    return json.loads(path.read_text())


def comparisons(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """For each variant both runs measured, each metric: B / A with its interval and verdict."""
    left, right = by_variant(measurements_of(a)), by_variant(measurements_of(b))
    found = []
    for name in sorted(set(left) & set(right)):
        for metric, words in METRICS:
            xs = [v for m in right[name] if (v := getattr(m, metric))]
            ys = [v for m in left[name] if (v := getattr(m, metric))]
            if xs and ys:
                coarse = resolution(left[name] + right[name]) if metric == "capacity_rps" else 0.0
                ratio = unpaired_ratio(xs, ys, coarse)
                found.append({"variant": name, "metric": words, "ratio": ratio.ratio, "ci_low": ratio.ci_low,
                              "ci_high": ratio.ci_high, "verdict": ratio.verdict})  # fmt: skip
    return found


def render(a: Path, b: Path, found: list[dict[str, Any]]) -> str:
    """The comparison as a table: B / A per variant and metric."""
    lines = [f"B / A, A = {a}, B = {b}", "", f"{'variant':28} {'metric':18} {'B / A [95 % CI]':26} verdict"]
    for c in found:
        span = f"{c['ratio']:.2f}× [{c['ci_low']:.2f}–{c['ci_high']:.2f}]"
        lines.append(f"{c['variant']:28} {c['metric']:18} {span:26} {c['verdict']}")
    if not found:
        lines.append("(no variant measured in both runs)")
    return "\n".join(lines)


def main(run_a: Path, run_b: Path) -> int:
    """Print what changed from A to B."""
    print(render(run_a, run_b, comparisons(load(run_a), load(run_b))))
    return 0
