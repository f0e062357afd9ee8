"""``summary.json``: every variant's capacity and CPU with their intervals, the comparisons and their verdicts, the
cost of a prediction, the crossover map; computed from a run's measurements, never typed (doc/benchmark.md)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmark.analysis.intervals import estimate, paired_ratio
from benchmark.analysis.rate_search import FAILED_LIMIT, P99_LIMIT_MS, RESOLUTION

SCHEMA = 1
NO_CAPACITY = {"median": 0.0, "ci_low": 0.0, "ci_high": 0.0}  # met the SLO at no rate (see ``slo_missed``)
# AWS EC2 on-demand, us-east-1, c7i.large: $0.08925 an hour for 2 vCPUs (aws.amazon.com/ec2/pricing/on-demand/,
# read 2026-12); a setting (BENCH_VCPU_HOUR_USD), since prices and clouds differ.
VCPU_HOUR_USD = 0.044625


@dataclass(frozen=True)
class Measurement:
    """One repetition of one variant: its capacity search, and its CPU and latency at the run's common rate."""

    variant: str
    repetition: int
    capacity_rps: float
    bracket_width: float | None
    probes: int
    cpu_ms_at_capacity: float | None  # the stack's CPU per request at the highest rate that met the SLO
    cpu_ms_per_request: float | None  # at the common rate, net of the stack's idle CPU
    client_cpu_ms_per_request: float | None  # the load generator's, on the same cores
    p50_ms: float | None
    p99_ms: float | None
    seconds: float
    common_rate: float | None = None  # the rate of the CPU and latency reading
    lowest_rate: float | None = None  # the lowest rate its search offered
    p99_ms_at_lowest_rate: float | None = None  # what it saw there (why a variant without capacity has none)
    idle_cpu_ms_per_s: float | None = None  # the stack's CPU idle, taken out of cpu_ms_per_request


@dataclass(frozen=True)
class VariantInfo:
    """What a variant is: its stack, its rung of the ladder (or the crossover), and the lab knobs it sets."""

    name: str
    stack: str
    rung: str
    params: dict[str, Any] = field(default_factory=dict)


def by_variant(measurements: Iterable[Measurement]) -> dict[str, list[Measurement]]:
    """Measurements grouped per variant, in repetition order."""
    grouped: dict[str, list[Measurement]] = {}
    for m in sorted(measurements, key=lambda m: (m.variant, m.repetition)):
        grouped.setdefault(m.variant, []).append(m)
    return grouped


def _values(ms: Sequence[Measurement], attribute: str) -> list[float]:
    return [v for m in ms if (v := getattr(m, attribute)) is not None and v > 0]


def resolution(ms: Sequence[Measurement]) -> float:
    """How coarsely these repetitions' capacities are known: the widest of their searches' brackets."""
    return max((m.bracket_width for m in ms if m.bracket_width), default=RESOLUTION)


def variant_summary(ms: Sequence[Measurement], cores: int) -> dict[str, Any]:
    """A variant's capacity and CPU with their intervals, its latency at the common rate, and the capacity its CPU
    cost predicts (the cores shared with the load generator, as they were)."""
    capacity, cpu = _values(ms, "capacity_rps"), _values(ms, "cpu_ms_per_request")
    total = [m.cpu_ms_per_request + m.client_cpu_ms_per_request for m in ms
             if m.cpu_ms_per_request and m.client_cpu_ms_per_request]  # fmt: skip
    rates = _values(ms, "common_rate")
    return {
        "capacity_rps": estimate(capacity, resolution(ms)).as_dict() if slo_met(ms) else NO_CAPACITY | {"n": len(ms)},
        "slo_met": slo_met(ms),
        "slo_missed": None if slo_met(ms) else missed([m for m in ms if not m.capacity_rps]),
        "common_rate_rps": statistics.median(rates) if rates else None,
        "cpu_ms_per_request": estimate(cpu).as_dict() if cpu else None,
        "p50_ms": statistics.median(_values(ms, "p50_ms")) if _values(ms, "p50_ms") else None,
        "p99_ms": statistics.median(_values(ms, "p99_ms")) if _values(ms, "p99_ms") else None,
        "capacity_predicted_by_cpu_rps": estimate([cores * 1000 / t for t in total]).as_dict() if total else None,
        "repetitions": len(ms),
        "probes": sum(m.probes for m in ms),
    }


def slo_met(ms: Sequence[Measurement]) -> bool:
    """Whether a variant meets the SLO at some rate in most of its repetitions (a repetition that finds no capacity
    at all, beside others that do, is noise near its floor)."""
    return bool(ms) and statistics.median(m.capacity_rps for m in ms) > 0


def missed(ms: Sequence[Measurement]) -> dict[str, float] | None:
    """Where a variant that met the SLO at no rate was closest to it: the lowest rate offered, and its p99 there."""
    lowest = [m for m in ms if m.lowest_rate and m.p99_ms_at_lowest_rate is not None]
    if not lowest:
        return None
    return {"lowest_rate_rps": min(m.lowest_rate for m in lowest),  # type: ignore[type-var]
            "p99_ms": statistics.median(m.p99_ms_at_lowest_rate for m in lowest)}  # type: ignore[misc]  # fmt: skip


def one_sided(a: str, b: str, ms_a: Sequence[Measurement], ms_b: Sequence[Measurement],
              headline: bool) -> dict[str, Any] | None:  # fmt: skip
    """The capacity ratio where one side met the SLO at no rate: the other's capacity over the lowest rate it was
    offered bounds the ratio on one side (its capacity is below that rate), and the verdict is a difference."""
    if not ms_a or not ms_b:
        return None
    met_a, met_b = slo_met(ms_a), slo_met(ms_b)
    if met_a and met_b:
        return None
    base = {"a": a, "b": b, "metric": "capacity_rps", "ratio": None, "ci_low": None, "ci_high": None,
            "n": min(len(ms_a), len(ms_b)), "headline": headline}  # fmt: skip
    if not met_a and not met_b:
        return base | {"verdict": "undecided", "words": f"neither {a} nor {b} meets the SLO at any rate"}
    never, never_ms, other_ms = (b, ms_b, ms_a) if met_a else (a, ms_a, ms_b)
    other = _values(other_ms, "capacity_rps")
    where = missed([m for m in never_ms if not m.capacity_rps])
    if where is None:
        return None
    bound = round(min(other) / where["lowest_rate_rps"], 2)
    said = (f"{never} meets the SLO at no rate (p99 {where['p99_ms']:.0f} ms at {where['lowest_rate_rps']:g} "
            f"req/s), {a if met_a else b} up to {statistics.median(other):.0f} req/s")  # fmt: skip
    if met_a:
        return base | {"ci_low": bound, "verdict": "difference", "words": said}
    return base | {"ci_high": round(1 / bound, 4), "verdict": "difference", "words": said}


def compare(a: str, b: str, grouped: dict[str, list[Measurement]], metric: str, headline: bool = False,
            what: str = "") -> dict[str, Any] | None:  # fmt: skip
    """``a / b`` on ``metric`` over the repetitions both have (paired by repetition: they ran side by side).

    A capacity where one side met the SLO at no rate is a one-sided bound (``ratio`` null, one end of the interval
    given): ``one_sided``."""
    if metric == "capacity_rps" and (one := one_sided(a, b, grouped.get(a, []), grouped.get(b, []), headline)):
        return one
    pairs = {m.repetition: m for m in grouped.get(a, [])}
    both = [(pairs[m.repetition], m) for m in grouped.get(b, []) if m.repetition in pairs]
    both = [(x, y) for x, y in both if getattr(x, metric) and getattr(y, metric)]
    if not both:
        return None
    coarse = resolution([m for pair in both for m in pair]) if metric == "capacity_rps" else 0.0
    ratio = paired_ratio([getattr(x, metric) for x, _ in both], [getattr(y, metric) for _, y in both], coarse)
    return {"a": a, "b": b, "metric": metric, "ratio": ratio.ratio, "ci_low": ratio.ci_low, "ci_high": ratio.ci_high,
            "verdict": ratio.verdict, "n": ratio.n, "headline": headline,
            "words": ratio.words(a, b, what)}  # fmt: skip


def cost(ms: Sequence[Measurement], vcpu_hour_usd: float) -> dict[str, float] | None:
    """What a prediction costs: CPU seconds per 1,000 at the common rate; cores per 1,000 req/s and dollars per
    million at the SLO (the CPU per request measured at capacity)."""
    common, at_slo = _values(ms, "cpu_ms_per_request"), _values(ms, "cpu_ms_at_capacity")
    if not common and not at_slo:
        return None
    slo_ms = statistics.median(at_slo or common)
    return {
        "cpu_s_per_1000": round(statistics.median(common or at_slo), 4),
        # 1,000 req/s x slo_ms of CPU each = slo_ms CPU-seconds per second: that many cores.
        "cores_per_1000_rps": round(slo_ms, 4),
        "usd_per_million": round(slo_ms * 1000 / 3600 * vcpu_hour_usd, 6),
    }


Pair = tuple[str, str]


def summarise(measurements: Iterable[Measurement], variants: Sequence[VariantInfo], headline: Sequence[Pair],
              ladder: Sequence[Pair], crossover: Sequence[tuple[dict[str, Any], str, str]],
              tracing: Sequence[Pair], cores: int, fingerprint: dict[str, Any],
              settings: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The whole summary: variants, comparisons (headline first: async against sync; then the ladder's steps, then
    tracing on against off), cost, crossover cells, and what the run was."""
    grouped = by_variant(measurements)
    info = {v.name: v for v in variants}
    summary_variants = {name: {"stack": info[name].stack, "rung": info[name].rung, "params": info[name].params}
                        | variant_summary(ms, cores) for name, ms in grouped.items() if name in info}  # fmt: skip
    comparisons = []
    for a, b in headline:
        for metric, what in (("capacity_rps", "capacity"), ("cpu_ms_per_request", "CPU per request")):
            if (c := compare(a, b, grouped, metric, headline=True, what=what)) is not None:
                comparisons.append(c)
    for a, b in ladder:
        for metric, what in (("capacity_rps", "capacity"), ("cpu_ms_per_request", "CPU per request")):
            if (c := compare(a, b, grouped, metric, what=what)) is not None:
                comparisons.append(c)
    traced = {}
    for a, b in tracing:
        for metric, what in (("cpu_ms_per_request", "CPU per request"), ("capacity_rps", "capacity")):
            if (c := compare(a, b, grouped, metric, what=what)) is not None:
                comparisons.append(c)
                traced.setdefault(info[a].stack, {})[metric] = {k: c[k] for k in ("ratio", "ci_low", "ci_high",
                                                                                  "verdict", "n")}  # fmt: skip
    vcpu = settings.get("vcpu_hour_usd", VCPU_HOUR_USD)
    cells = []
    for params, a, b in crossover:
        measured = compare(a, b, grouped, "capacity_rps")
        if measured is None:
            continue
        cpu = compare(b, a, grouped, "cpu_ms_per_request")  # the CPU model predicts capacity inversely to CPU
        cells.append({"params": params, "a": a, "b": b, "ratio": measured["ratio"], "ci_low": measured["ci_low"],
                      "ci_high": measured["ci_high"], "verdict": measured["verdict"], "n": measured["n"],
                      "predicted_ratio": cpu["ratio"] if cpu else None})  # fmt: skip
    return {
        "schema": SCHEMA,
        "slo": {
            "p99_ms": P99_LIMIT_MS,
            "failed_at_most": FAILED_LIMIT,
            "resolution": settings.get("resolution", RESOLUTION),
            "every_answer_checked": True,
        },
        "variants": summary_variants,
        "comparisons": comparisons,
        "cost": {name: c for name, ms in grouped.items() if (c := cost(ms, vcpu)) is not None},
        "crossover": cells,
        "tracing": traced,
        "fingerprint": fingerprint,
        "settings": settings,
        "measurements": [asdict(m) for m in sorted(grouped_flat(grouped), key=lambda m: (m.repetition, m.variant))],
    }


def grouped_flat(grouped: dict[str, list[Measurement]]) -> list[Measurement]:
    """Every measurement of a grouping, flat."""
    return [m for ms in grouped.values() for m in ms]


def measurements_of(summary: dict[str, Any]) -> list[Measurement]:
    """The measurements a summary was computed from (so that a run can be summarised again, or compared)."""
    return [Measurement(**m) for m in summary.get("measurements", [])]
