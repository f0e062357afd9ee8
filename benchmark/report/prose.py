"""The report's words: cell formatting, tables, and the sentences that read computed figures aloud."""

from __future__ import annotations

from benchmark.report.figures import Capacity

SCENARIO_NOTES = {
    "response_time": "One user, one request per second: latency without any queueing.",
    "load": "The step ramp that finds each stack's breaking point.",
    "max": "Each stack held at its own breaking point.",
    "stress": "Far beyond the breaking point. Locust is closed-loop: under overload each user waits for its answer "
    "before sending the next, so latency is under-reported (coordinated omission); throughput and failures are "
    "the reliable figures here.",
}


def shared_cores_note(cores: int) -> str:
    """The caveat beside every figure: the load generators ran on the services' own cores."""
    return (
        f"*Every load generator (the open-loop generator, wrk, Locust) ran on the same {cores} cores as the services: "
        "absolute figures are lower than on separate machines, and each generator's own CPU per request is shown "
        "where it was measured. Compare ratios measured in this one run.*"
    )


def fmt(value) -> str:
    """A table cell: – for missing, yes/no, 2 decimals under 10, else 1 decimal with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ratio(a, b, digits: int = 2) -> str:
    """``a / b`` as ``1.23×``, or – when either is missing."""
    return f"{a / b:.{digits}f}×" if a and b else "–"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table, every cell through ``fmt``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]


def headline_sentence(label: str, key: str, a: dict, s: dict) -> str:
    """One bullet comparing the two stacks at one load."""
    if key == "p50_ms":
        return (
            f"- **Low load**: median {fmt(a['p50_ms'])} ms async vs {fmt(s['p50_ms'])} ms sync "
            f"(sync/async {ratio(s['p50_ms'], a['p50_ms'])})."
        )
    return (
        f"- **{label.capitalize()}**: {fmt(a['rps'])} req/s async ({a['users']} users) vs "
        f"{fmt(s['rps'])} req/s sync ({s['users']} users): async/sync {ratio(a['rps'], s['rps'])}; "
        f"p99 {fmt(a['p99_ms'])} vs {fmt(s['p99_ms'])} ms; failures {a['failures']} vs {s['failures']}."
    )


def growth_sentence(stack: str, grown: dict[str, float]) -> str:
    """Which part grows most from low load to stress."""
    return (
        f"- **{stack}**: from low load to stress the mean grows by {fmt(sum(grown.values()))} ms; "
        + ", ".join(f"{part} {'+' if g >= 0 else ''}{fmt(g)} ms" for part, g in grown.items())
        + "."
    )


def delta_sentence(diff: dict[str, float]) -> str:
    """Where sync - async comes from, part by part."""
    return (
        f"sync − async = {fmt(sum(diff.values()))} ms of mean latency, of which "
        + ", ".join(f"{part} {fmt(d)} ms" for part, d in diff.items())
        + "."
    )


def capacity_sentence(c: Capacity, cores: int) -> str:
    """Why the measured breaking point differs from the model, decided from the measured utilisation and stages."""
    model, found, machine, gap = c.model, c.found, c.machine_pct, c.gap_pct or 0.0
    said = (
        f"- **{c.stack}**: the {model['bound']} bound is the lower ({fmt(model['predicted_rps'])} req/s predicted); "
        f"measured {fmt(found['rps'])} req/s, {abs(gap):.0f}% {'above' if gap > 0 else 'below'} it. Holding the "
        f"breaking point, our processes kept {c.ours_pct:.0f}% of the {cores} cores busy and the whole machine was "
        f"{fmt(machine)}% busy"
        + (f" ({machine - c.ours_pct:.0f} points taken by other processes on this shared host). " if machine else ". ")
    )
    if model["bound"] == "concurrency" and found["rps"] >= 0.8 * model["predicted_rps"]:
        return said + (
            "Threads run out before the cores do: each request holds a scoring thread and a thread of each model "
            "for its whole wait, so requests queue for a thread from the concurrency limit on."
        )
    if machine is not None and machine >= 85:
        if abs(gap) <= 10:
            return (
                said + f"The cores set the limit, and the CPU model predicts the measured point within {abs(gap):.0f}%."
            )
        return said + (
            "The cores set the limit: as utilisation nears 100% queueing grows as 1/(1−ρ) and the p95 rule cuts off "
            "before full saturation; the cores were also not all ours."
        )
    grew = (
        f" At the breaking point the part that grew most since low load is *{c.grew[0]}* (+{fmt(c.grew[1])} ms)."
        if c.grew
        else ""
    )
    return said + (
        "Neither bound is reached on average: the p95 rule trips first on latency added at every hop. With many "
        "processes (workers, masters, Redis, Locust) sharing the cores, a request waits for a CPU turn at each hop "
        "even below 100% average use; those bursts of contention, not the mean, decide p95." + grew
    )


def layout_sentence(layout: dict) -> str:
    """The worker layout the services ran with, as the fingerprint recorded it."""
    # Results from before the server options have no server in their layout: theirs were the defaults.
    async_server = layout.get("async_server", "gunicorn with uvicorn workers")
    sync_server = layout.get("sync_server", f"gunicorn with {layout['sync_worker_class']} workers")
    return (
        f"async = {async_server}, {layout['async_scoring_workers']} workers for scoring and "
        f"{layout['model_workers']} per model service; sync = {sync_server}, "
        f"{layout['sync_scoring_workers']} workers × {layout['sync_scoring_threads']} threads for scoring and "
        f"{layout['model_workers']} × {layout['sync_model_threads']} per model service"
    )


def model_cost_phrase(model: dict) -> str:
    """The simulated model cost, as the fingerprint recorded it: ``models wait uniformly 40–50 ms``."""
    phrase = f"models wait uniformly {model['wait_min_ms']:g}–{model['wait_max_ms']:g} ms"
    return phrase + (f" and burn {model['cpu_ms']:g} ms of CPU" if model["cpu_ms"] else "")
