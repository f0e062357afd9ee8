"""Every figure of the report, computed from parsed results: no formatting, no prose, nothing typed in."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.analysis.capacity import capacity_model
from benchmark.analysis.decompose import decompose, expected_inference_ms
from benchmark.experiments.scenarios import STACKS
from benchmark.report.data import Results

# The headline's three loads: (scenario, label, the figure it compares).
HEADLINE = (
    ("response_time", "low load (1 user, 1 req/s)", "p50_ms"),
    ("max", "at its breaking point (max performance)", "rps"),
    ("stress", "stress", "rps"),
)


def fanout_of(result: dict, stack: str, default: str) -> str:
    """The fan-out a run used: always parallel on the async stack; on the sync stack its env, else the default."""
    return "parallel" if stack == "async" else result.get("env", {}).get("SCORING_FANOUT", default)


def inference_ms(results: Results, fanout: str) -> float:
    """The expected model wait a request cannot beat, from the model settings the run recorded."""
    model = results.services["model"]
    return expected_inference_ms(fanout, model["wait_min_ms"], model["wait_max_ms"], model["cpu_ms"])


def parts(results: Results, result: dict, stack: str, stages_ms: dict) -> dict[str, float]:
    """Mean ms per part of a window (see ``decompose``), with the run's own fan-out and model cost."""
    fanout = fanout_of(result, stack, results.services["scoring"]["fanout"])
    return decompose(stages_ms, fanout, inference_ms(results, fanout))


def headline(results: Results) -> list[tuple[str, str, dict, dict]]:
    """(label, compared figure, async whole-run summary, sync whole-run summary) for each load both stacks ran."""
    rows = []
    for scenario, label, key in HEADLINE:
        a, s = (results.locust[scenario].get(stack) for stack in STACKS)
        if a and s:
            rows.append((label, key, a["whole"], s["whole"]))
    return rows


def decompositions(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """stack -> scenario -> parts of the whole run (the ramp is split per step instead)."""
    return {
        stack: {
            scenario: parts(results, runs[stack], stack, runs[stack]["whole"]["stages_ms"])
            for scenario, runs in results.locust.items()
            if stack in runs and scenario != "load"
        }
        for stack in STACKS
    }


def step_parts(results: Results, stack: str) -> list[tuple[int, float, dict[str, float]]]:
    """(users, req/s, parts) of each step of a stack's load ramp."""
    ramp = results.locust["load"][stack]
    return [
        (s["users"], s["rps"], parts(results, ramp, stack, s["stages_ms"])) for s in ramp["steps"] if s["stages_ms"]
    ]


def growth(decomps: dict[str, dict[str, dict[str, float]]], stack: str) -> dict[str, float] | None:
    """How much each part grows from low load to stress, largest first."""
    low, high = decomps.get(stack, {}).get("response_time"), decomps.get(stack, {}).get("stress")
    if not (low and high):
        return None
    return dict(sorted(((p, high[p] - low[p]) for p in low), key=lambda kv: kv[1], reverse=True))


def delta(decomps: dict[str, dict[str, dict[str, float]]], scenario: str) -> dict[str, float] | None:
    """sync - async per part in one scenario, largest magnitude first."""
    a, s = decomps.get("async", {}).get(scenario), decomps.get("sync", {}).get(scenario)
    if not (a and s):
        return None
    return dict(sorted(((p, s[p] - a[p]) for p in a), key=lambda kv: abs(kv[1]), reverse=True))


def services_share(result: dict) -> float | None:
    """CPU ms per request of the services alone (Redis included), without the load generator's share."""
    spent = result["services_cpu_s"] + result["loadgen_cpu_s"]
    return result["cpu_ms_per_request"] * result["services_cpu_s"] / spent if spent else None


def utilisation_pct(result: dict, cores: int) -> float:
    """Share of the machine's cores our processes (services and load generator) kept busy during a run."""
    return 100 * (result["services_cpu_s"] + result["loadgen_cpu_s"]) / (result["wall_s"] * cores)


@dataclass
class Capacity:
    """One stack's capacity model beside its measured breaking point and the utilisation holding it."""

    stack: str
    model: dict
    found: dict
    held: dict
    services_ms: float | None
    ours_pct: float
    machine_pct: float | None
    gap_pct: float | None  # measured vs predicted, %
    grew: tuple[str, float] | None  # the part that grew most from low load to the breaking point


def capacities(results: Results, decomps: dict) -> list[Capacity]:
    """The capacity model of each stack that ran the response-time, load and max scenarios."""
    rows = []
    for stack in STACKS:
        low, held, load = (results.locust[sc].get(stack) for sc in ("response_time", "max", "load"))
        if not (low and held and load):
            continue
        service_ms = low["whole"]["stages_ms"].get("client", 0) or 1
        model = capacity_model(stack, held.get("env", {}), service_ms, held["cpu_ms_per_request"] or 0,
                               results.cores)  # fmt: skip
        found = load.get("breaking_point") or {}
        gap = None
        if model["predicted_rps"] and found.get("rps"):
            gap = 100 * (found["rps"] - model["predicted_rps"]) / model["predicted_rps"]
        before, at = decomps.get(stack, {}).get("response_time"), decomps.get(stack, {}).get("max")
        grew = max(((p, at[p] - before[p]) for p in before), key=lambda kv: kv[1]) if before and at else None
        rows.append(Capacity(stack, model, found, held, services_share(held), utilisation_pct(held, results.cores),
                             held.get("machine_busy_pct"), gap, grew))  # fmt: skip
    return rows


def io_vs_cpu(results: Results) -> list[tuple[str, dict, dict]]:
    """(run, async breaking point, sync breaking point) for the I/O-bound ramp and the CPU-bound one."""
    rows = []
    for label, runs in (("io", results.locust["load"]), ("cpu", results.cpubound)):
        found = [runs.get(stack, {}).get("breaking_point") or {} for stack in STACKS]
        rows.append((label, *found))
    return rows


def timeit_by_n(rows: list[dict]) -> dict[str, dict[int, list[float]]]:
    """stack -> N -> every repetition's seconds."""
    by: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        by.setdefault(row["stack"], {}).setdefault(row["n"], []).append(row["seconds"])
    return by


def timeit_improvement(rows: list[dict]) -> dict:
    """Mean seconds per N for each stack, the % by which async improves on sync, and the same over all N."""
    by = timeit_by_n(rows)
    table = []
    for n in sorted({r["n"] for r in rows}):
        a, s = by.get("async", {}).get(n), by.get("sync", {}).get(n)
        if a and s:
            mean_a, mean_s = sum(a) / len(a), sum(s) / len(s)
            table.append({"n": n, "async_s": mean_a, "sync_s": mean_s,
                          "improvement_pct": 100 * (mean_s - mean_a) / mean_s})  # fmt: skip
    total_a, total_s = sum(r["async_s"] for r in table), sum(r["sync_s"] for r in table)
    # The same figure for each repetition alone (repetition k of every N, both stacks): its run-to-run spread.
    reps = sorted({r["repetition"] for r in rows})
    per_rep = []
    for rep in reps:
        sums = {stack: sum(r["seconds"] for r in rows if r["stack"] == stack and r["repetition"] == rep)
                for stack in STACKS}  # fmt: skip
        if sums["sync"]:
            per_rep.append(100 * (sums["sync"] - sums["async"]) / sums["sync"])
    return {"per_n": table, "overall_improvement_pct": 100 * (total_s - total_a) / total_s if total_s else None,
            "per_repetition_pct": per_rep}  # fmt: skip


def _answered_rps(step: dict) -> float:
    """Answers without failure per second in one ramp step."""
    return (step["requests"] - step["failures"]) / step["seconds"]


def sweep_row(result: dict) -> dict:
    """One row of the sweep table: capacity by the rule, and the peak rate of answers without failure with its tail."""
    found = result.get("breaking_point") or {}
    # Fast 503s and errors count in a step's rps; a peak of them is no throughput, so the peak counts answers only.
    timed = [s for s in result["steps"] if s.get("seconds")]
    peak = max(timed, key=_answered_rps) if timed else {}
    if not result.get("breaking_point"):
        broke = "at the first step"
    else:
        broke = "yes" if result.get("ramp_saturated") else "no: capacity ≥ this"
    return {
        "variant": result["name"].removeprefix("sweep_"),
        "stack": result["stack"],
        "env": " ".join(f"{k}={v}" for k, v in result["env"].items()) or "defaults",
        "p95_limit_ms": result.get("p95_limit_ms"),
        "capacity_users": found.get("users"),
        "broke_within_ramp": broke,
        "capacity_rps": found.get("rps"),
        "p95_ms": found.get("p95_ms"),
        "p99_ms": found.get("p99_ms"),
        "peak_ok_rps": round(_answered_rps(peak), 1) if peak else None,
        "peak_p99_ms": peak.get("p99_ms"),
        "cpu_ms_per_request": result.get("cpu_ms_per_request"),
        "failures": result["whole"]["failures"],
    }


def edge_costs(results: Results) -> list[dict]:
    """Per stack, what the edge adds: p50 at low load, the breaking point, and the services' CPU per request over
    the same ramp (the edge's own CPU included, the load generator's left out), through the edge and direct."""
    rows = []
    for stack in STACKS:
        low = [r["response_time"].get(stack) for r in (results.locust, results.direct)]
        ramp = [r["load"].get(stack) for r in (results.locust, results.direct)]
        if not all(low + ramp):
            continue
        found = [r.get("breaking_point") or {} for r in ramp]
        rows.append({
            "stack": stack,
            "p50_ms": [r["whole"]["p50_ms"] for r in low],
            "break_rps": [f.get("rps") for f in found],
            "cpu_ms": [services_share(r) for r in ramp],
        })  # fmt: skip
    return rows
