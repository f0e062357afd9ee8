"""Figures of the open-loop experiments (curves and burst), computed from their raw results."""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.analysis.curves import beyond_spread, capacity, passes, per_rate, spread
from benchmark.report.data import Results

BURST_KEYS = ("p50_ms", "p99_ms", "max_ms", "stack_cpu_ms_per_request")
CURVE_KEYS = ("p50_ms", "p99_ms", "p99_9_ms", "ok_rps", "stack_cpu_ms_per_request", "client_cpu_ms_per_request")


@dataclass
class Curve:
    """One variant's ladders, summarised over repetitions."""

    variant: str
    about: str
    stack: str
    capacity: dict  # spread of the capacity of each repetition
    lower_bound: bool  # some repetition never failed: the capacity is at least this
    peak: dict  # spread of the most full answers per second any step of each repetition delivered
    per_rate: dict[str, dict[float, dict]]  # key -> rate -> spread over repetitions
    repetitions: int


def curves(ladders_by_variant: dict[str, list[dict]], plan: dict | None) -> list[Curve]:
    """Every variant's curve, in the plan's order (the curves experiment's, or another run of ladders)."""
    if not ladders_by_variant:
        return []
    plan = plan or {}
    limit, errors, stop = plan["p99_limit_ms"], plan["error_limit"], plan["stop_after_failures"]
    found = []
    for name, runs in ladders_by_variant.items():
        ladders = [run["steps"] for run in runs]
        caps = [capacity(steps, limit, errors, stop) for steps in ladders]
        found.append(Curve(
            variant=name, about=runs[0]["about"], stack=runs[0]["stack"],
            capacity=spread([c["rps"] for c in caps]), lower_bound=any(c["lower_bound"] for c in caps),
            peak=spread([max((s["ok_rps"] for s in steps), default=None) for steps in ladders]),
            per_rate={key: per_rate(ladders, key) for key in CURVE_KEYS}, repetitions=len(runs),
        ))  # fmt: skip
    return found


def comparisons(plan: dict | None, found: list[Curve]) -> list[dict]:
    """For each pair the plan compares: the ratios of their capacities and of their peak answer rates (medians; None
    when either is missing, as the capacity of a variant that never met the latency rule) and whether each exceeds
    the spread."""
    by = {c.variant: c for c in found}
    rows = []
    for first, second in (plan or {}).get("compare", []):
        a, b = by.get(first), by.get(second)
        if not (a and b):
            continue
        rows.append({"first": a, "second": b} | _ratio("ratio", "beyond_spread", a.capacity, b.capacity)
                    | _ratio("peak_ratio", "peak_beyond_spread", a.peak, b.peak))  # fmt: skip
    return rows


def _ratio(name: str, verdict: str, a: dict, b: dict) -> dict:
    if not (a["median"] and b["median"]):
        return {name: None, verdict: None}
    return {name: a["median"] / b["median"], verdict: beyond_spread(a, b)}


def common_rate(ladders_by_variant: dict[str, list[dict]], plan: dict | None) -> float | None:
    """The highest offered rate every variant passed in every repetition: where their CPU compares fairly."""
    if not ladders_by_variant:
        return None
    plan = plan or {}
    limit, errors = plan["p99_limit_ms"], plan["error_limit"]
    rates = None
    for runs in ladders_by_variant.values():
        for run in runs:
            ok = {s["rate"] for s in run["steps"] if passes(s, limit, errors)}
            rates = ok if rates is None else rates & ok
    return max(rates) if rates else None


def burst_rows(results: Results) -> list[dict]:
    """Per variant: answers by kind summed over repetitions, latency and CPU as spreads."""
    rows = []
    for name, runs in results.burst.items():
        steps = [run["result"] for run in runs]
        total = {}
        for step in steps:
            for kind, count in step["outcomes"].items():
                total[kind] = total.get(kind, 0) + count
        sent = sum(total.values())
        shed = total.get("503", 0)
        rows.append({
            "variant": name, "about": runs[0]["about"], "users": runs[0]["users"], "repetitions": len(runs),
            "requests": sent, "ok": total.get("ok", 0), "shed": shed, "degraded": total.get("degraded", 0),
            "other_failures": sent - total.get("ok", 0) - total.get("degraded", 0) - shed,
            **{key: spread([s[key] for s in steps]) for key in BURST_KEYS},
        })  # fmt: skip
    return rows
