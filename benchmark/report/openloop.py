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


def comparisons(plan: dict | None, found: list[Curve], rate: float | None = None) -> list[dict]:
    """For each pair the plan compares: the ratios of their capacities, of their peak answer rates and, at ``rate``
    (the common rate), of their stack CPU per request (medians; None when either is missing, as the capacity of a
    variant that never met the latency rule) and whether each exceeds the spread."""
    by = {c.variant: c for c in found}
    rows = []
    for first, second in (plan or {}).get("compare", []):
        a, b = by.get(first), by.get(second)
        if not (a and b):
            continue
        cpu = [c.per_rate["stack_cpu_ms_per_request"].get(rate) if rate else None for c in (a, b)]
        rows.append({"first": a, "second": b} | _ratio("ratio", "beyond_spread", a.capacity, b.capacity)
                    | _ratio("peak_ratio", "peak_beyond_spread", a.peak, b.peak)
                    | (_ratio("cpu_ratio", "cpu_beyond_spread", *cpu) if None not in cpu
                       else {"cpu_ratio": None, "cpu_beyond_spread": None}))  # fmt: skip
    return rows


def _ratio(name: str, verdict: str, a: dict, b: dict) -> dict:
    if not (a["median"] and b["median"]):
        return {name: None, verdict: None}
    return {name: a["median"] / b["median"], verdict: beyond_spread(a, b)}


def common_rate(ladders_by_variant: dict[str, list[dict]], plan: dict | None) -> float | None:
    """The highest offered rate every variant was offered in every repetition and met the plan's rule at, by the
    median over its repetitions: where their CPU compares fairly (one noisy step of one repetition does not rule a
    rate out, as it would if every repetition had to pass)."""
    if not ladders_by_variant:
        return None
    plan = plan or {}
    limit, errors = plan["p99_limit_ms"], plan["error_limit"]
    rates = None
    for runs in ladders_by_variant.values():
        by_rate: dict[float, list[dict]] = {}
        for run in runs:
            for step in run["steps"]:
                by_rate.setdefault(step["rate"], []).append(step)
        ok = {rate for rate, steps in by_rate.items() if len(steps) == len(runs) and passes(_median_step(steps),
                                                                                           limit, errors)}  # fmt: skip
        rates = ok if rates is None else rates & ok
    return max(rates) if rates else None


def _median_step(steps: list[dict]) -> dict:
    """A step's p99 and failed share as their medians over repetitions (None when any repetition lacks one)."""

    def median(key: str) -> float | None:
        values = [s[key] for s in steps]
        return None if None in values else spread(values)["median"]

    return {"p99_ms": median("p99_ms"), "error_rate": median("error_rate")}


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
