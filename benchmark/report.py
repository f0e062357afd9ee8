"""The Markdown report: fingerprint, settings, generated tables, charts and conclusions, all from result files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmark import charts
from benchmark.capacity import capacity_model
from benchmark.decompose import decompose, expected_inference_ms
from benchmark.profile_bench import top_functions
from benchmark.settings import BenchSettings
from benchmark.sweep import sweep_row
from benchmark.timeit_bench import improvement
from common.profiling import TOOLS
from common.server_settings import ServerSettings, cpu_count, workers_for
from stack.settings import StackSettings

STACKS = ("async", "sync")
NOTE = "*The load generator (Locust) ran on the same 2 cores as the services: absolute figures are lower than on separate machines; compare ratios from this one run.*"


SCENARIO_NOTES = {
    "response_time": "One user, one request per second: latency without any queueing.",
    "load": "The step ramp that finds each stack's breaking point.",
    "max": "Each stack held at its own breaking point.",
    "stress": "Far beyond the breaking point. Locust is closed-loop: under overload each user waits for its answer "
    "before sending the next, so latency is under-reported (coordinated omission); throughput and failures are "
    "the reliable figures here.",
}


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value) -> str:
    """A table cell: – for missing, yes/no, 2 decimals under 10, else 1 decimal with thousands separators."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ratio(a, b, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}×" if a and b else "–"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]


def _fanout(env: dict) -> str:
    return env.get("SCORING_FANOUT", "parallel")


def _parts(result: dict, stack: str, model_env: dict) -> dict[str, float]:
    env = result.get("env", {})
    fanout = "parallel" if stack == "async" else _fanout(env)
    inference = expected_inference_ms(fanout, model_env["min"], model_env["max"], model_env["cpu"])
    return decompose(result["whole"]["stages_ms"], fanout, inference)


def _headline(locust: dict[str, dict[str, dict]]) -> tuple[list[str], list[str]]:
    """The delta at low load, at the breaking point and under stress; and one sentence per figure."""
    rows, said = [], []
    for scenario, label, key in (
        ("response_time", "low load (1 user, 1 req/s)", "p50_ms"),
        ("max", "at its breaking point (max performance)", "rps"),
        ("stress", "stress", "rps"),
    ):
        a, s = locust.get(scenario, {}).get("async"), locust.get(scenario, {}).get("sync")
        if not (a and s):
            continue
        wa, ws = a["whole"], s["whole"]
        rows.append(
            [
                label,
                wa["users"],
                ws["users"],
                wa["rps"],
                ws["rps"],
                wa["p50_ms"],
                ws["p50_ms"],
                wa["p99_ms"],
                ws["p99_ms"],
                wa["failures"],
                ws["failures"],
            ]
        )
        if key == "p50_ms":
            said.append(
                f"- **Low load**: median {_fmt(wa['p50_ms'])} ms async vs {_fmt(ws['p50_ms'])} ms sync "
                f"(sync/async {_ratio(ws['p50_ms'], wa['p50_ms'])})."
            )
        else:
            said.append(
                f"- **{label.capitalize()}**: {_fmt(wa['rps'])} req/s async ({wa['users']} users) vs "
                f"{_fmt(ws['rps'])} req/s sync ({ws['users']} users): async/sync {_ratio(wa['rps'], ws['rps'])}; "
                f"p99 {_fmt(wa['p99_ms'])} vs {_fmt(ws['p99_ms'])} ms; failures {wa['failures']} vs {ws['failures']}."
            )
    header = [
        "load",
        "users async",
        "users sync",
        "req/s async",
        "req/s sync",
        "p50 async ms",
        "p50 sync ms",
        "p99 async ms",
        "p99 sync ms",
        "failures async",
        "failures sync",
    ]
    return _table(header, rows) if rows else [], said


def _growth(decomps: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """Which part grows most from low load to stress, per stack."""
    said = []
    for stack in STACKS:
        low, high = decomps.get(stack, {}).get("response_time"), decomps.get(stack, {}).get("stress")
        if not (low and high):
            continue
        growth = {part: high[part] - low[part] for part in low}
        ranked = sorted(growth.items(), key=lambda kv: kv[1], reverse=True)
        said.append(
            f"- **{stack}**: from low load to stress the mean grows by {_fmt(sum(growth.values()))} ms; "
            + ", ".join(f"{part} {'+' if g >= 0 else ''}{_fmt(g)} ms" for part, g in ranked)
            + "."
        )
    return said


def _delta_sources(decomps: dict[str, dict[str, dict[str, float]]], scenario: str) -> str | None:
    a, s = decomps.get("async", {}).get(scenario), decomps.get("sync", {}).get(scenario)
    if not (a and s):
        return None
    diff = {part: s[part] - a[part] for part in a}
    ranked = sorted(diff.items(), key=lambda kv: abs(kv[1]), reverse=True)
    return (
        f"sync − async = {_fmt(sum(diff.values()))} ms of mean latency, of which "
        + ", ".join(f"{part} {_fmt(d)} ms" for part, d in ranked)
        + "."
    )


def _services_share(result: dict) -> float | None:
    """CPU ms per request of the services alone (Redis included), without the load generator's share."""
    spent = result["services_cpu_s"] + result["loadgen_cpu_s"]
    return result["cpu_ms_per_request"] * result["services_cpu_s"] / spent if spent else None


def _capacity_sentence(stack: str, model: dict, found: dict, held: dict, decomps: dict) -> str:
    """Why the measured breaking point differs from the model, decided from the measured utilisation and stages."""
    cores = cpu_count()
    ours = 100 * (held["services_cpu_s"] + held["loadgen_cpu_s"]) / (held["wall_s"] * cores)
    machine = held.get("machine_busy_pct")
    gap = 100 * (found["rps"] - model["predicted_rps"]) / model["predicted_rps"]
    said = (
        f"- **{stack}**: the {model['bound']} bound is the lower ({_fmt(model['predicted_rps'])} req/s predicted); "
        f"measured {_fmt(found['rps'])} req/s, {abs(gap):.0f}% {'above' if gap > 0 else 'below'} it. Holding the "
        f"breaking point, our processes kept {ours:.0f}% of the {cores} cores busy and the whole machine was "
        f"{_fmt(machine)}% busy"
        + (f" ({machine - ours:.0f} points taken by other processes on this shared host). " if machine else ". ")
    )
    if model["bound"] == "concurrency" and found["rps"] >= 0.8 * model["predicted_rps"]:
        return said + (
            "Threads run out before the cores do: each request holds a scoring thread and a thread of each model "
            "for its whole wait, so requests queue for a thread from the concurrency limit on."
        )
    if machine is not None and machine >= 85:
        close = abs(gap) <= 10
        return said + (
            "The cores set the limit"
            + (
                f", and the CPU model predicts the measured point within {abs(gap):.0f}%."
                if close
                else ": as utilisation nears 100% queueing grows as 1/(1−ρ) and the p95 rule cuts off before full "
                "saturation; the cores were also not all ours."
            )
        )
    low, high = decomps.get(stack, {}).get("response_time"), decomps.get(stack, {}).get("max")
    grew = ""
    if low and high:
        part, ms = max(((p, high[p] - low[p]) for p in low), key=lambda kv: kv[1])
        grew = f" At the breaking point the part that grew most since low load is *{part}* (+{_fmt(ms)} ms)."
    return said + (
        "Neither bound is reached on average: the p95 rule trips first on latency added at every hop. With many "
        "processes (workers, masters, Redis, Locust) sharing the cores, a request waits for a CPU turn at each hop "
        "even below 100% average use; those bursts of contention, not the mean, decide p95." + grew
    )


def build_report(settings: BenchSettings, say=print) -> Path:
    """Read every result under the results directory, draw the charts, write report.md."""
    root = settings.results
    figures = root / "figures"
    lines: list[str] = [
        "# async vs sync: benchmark report",
        "",
        f"Generated by `make bench{' QUICK=1' if settings.quick else ''}` from the result files beside "
        "this report; no figure below is written by hand.",
        "",
        NOTE,
        "",
    ]
    # The run's fingerprint, or the first phase's when only single phases were run.
    found = [root / "fingerprint.json", *sorted(root.glob("*/fingerprint.json"))]
    fingerprint = next((_load(p) for p in found if p.exists()), {})
    lines += ["## Machine and code", ""]
    lines += _table(
        ["CPU", "cores", "memory GiB", "OS", "Python", "git sha", "taken at"],
        [
            [
                fingerprint.get("cpu_model"),
                fingerprint.get("cpu_count"),
                fingerprint.get("memory_gib"),
                fingerprint.get("os"),
                fingerprint.get("python"),
                fingerprint.get("git_sha"),
                fingerprint.get("taken_at"),
            ]
        ],
    )
    packages = fingerprint.get("packages", {})
    lines += ["", "Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items() if v), ""]
    lines += [
        "## Settings",
        "",
        "<details><summary>BENCH_* settings of this run</summary>",
        "",
        "```json",
        json.dumps(fingerprint.get("settings", {}), indent=1, default=str),
        "```",
        "</details>",
        "",
        f"Services run with their defaults (`make up`): {_layout(fingerprint.get('cpu_count') or cpu_count())}; "
        "parallel fan-out; models wait uniformly 40–50 ms. Only one stack runs at a time; each gets its own "
        "Redis on free ports.",
        "",
    ]

    model_io = {"min": 40.0, "max": 50.0, "cpu": 0.0}
    locust = {
        sc: {st: r for st in STACKS if (r := _load(root / "locust" / f"{sc}_{st}.json"))}
        for sc in ("response_time", "load", "max", "stress")
    }
    table, said = _headline(locust)
    if table:
        lines += ["## Headline: the async/sync delta", "", *said, "", *table, ""]
    if locust["load"]:
        found = {st: r.get("breaking_point") for st, r in locust["load"].items()}
        path = charts.ramp_chart(locust["load"], settings.p95_limit_ms, "load ramp", figures / "load_ramp.png")
        lines += [
            "## Breaking points (load ramp)",
            "",
            f"Rule: the breaking point is the highest step of the ramp (+{settings.step_users} users every "
            f"{settings.step_s} s, first {settings.settle_s} s of each step dropped) such that it and every "
            f"lower step have p95 < {settings.p95_limit_ms:g} ms and zero failures. Every answer is checked: "
            "status 200 and the exact expected score of its entity.",
            "",
        ]
        lines += _table(
            ["stack", "breaking users", "req/s", "p50 ms", "p95 ms", "p99 ms", "ramp went beyond it"],
            [
                [
                    st,
                    f and f["users"],
                    f and f["rps"],
                    f and f["p50_ms"],
                    f and f["p95_ms"],
                    f and f["p99_ms"],
                    locust["load"][st].get("ramp_saturated"),
                ]
                for st, f in found.items()
            ],
        )
        lines += ["", f"![load ramp]({path.relative_to(root)})", ""]
    for scenario in ("response_time", "load", "max", "stress"):
        if locust[scenario]:
            path = charts.scenario_timeseries(locust[scenario], scenario, figures / f"{scenario}.png")
            lines += [
                f"### Scenario `{scenario}`",
                "",
                SCENARIO_NOTES[scenario],
                "",
                f"![{scenario}]({path.relative_to(root)})",
                "",
                "Raw: "
                + ", ".join(
                    f"[{st} stats](locust/{Path(r['stats_csv']).name}) · "
                    f"[{st} Locust report](locust/{Path(r['html']).name})"
                    for st, r in locust[scenario].items()
                ),
                "",
            ]

    # Where the delta comes from.
    decomps = {
        st: {sc: _parts(locust[sc][st], st, model_io) for sc in locust if st in locust[sc] and sc != "load"}
        for st in STACKS
    }
    bar_rows = [(f"{st} · {sc}", d) for st in STACKS for sc, d in decomps[st].items() if d]
    if bar_rows:
        path = charts.decomposition_chart(bar_rows, figures / "decomposition.png")
        lines += [
            "## Where the delta comes from",
            "",
            "Mean client time split by the scoring service's `Server-Timing` (redis, model_a, model_b, total). "
            "*Outside handler* = client time − handler total: network, waiting for a free worker/thread or "
            "event-loop turn, server framework, and the load generator's own delays. *Simulated inference* = "
            "the expected model wait (E[max] of the two 40–50 ms draws = 46.7 ms with parallel fan-out). "
            "*Model calls overhead* = the fan-out's time beyond it: HTTP client, model servers and their queues. "
            "*In-handler other* = the rest of the handler.",
            "",
        ]
        parts = list(bar_rows[0][1])
        lines += _table(
            ["stack · scenario", *parts, "sum = mean client ms"],
            [[label, *[d[p] for p in parts], sum(d.values())] for label, d in bar_rows],
        )
        lines += ["", f"![decomposition]({path.relative_to(root)})", ""]
        for scenario, label in (
            ("response_time", "At low load"),
            ("max", "At the breaking point"),
            ("stress", "Under stress"),
        ):
            if sentence := _delta_sources(decomps, scenario):
                lines.append(f"- **{label}**: {sentence}")
        lines += ["", "Which parts grow with load:", "", *_growth(decomps), ""]
        if locust["load"]:
            lines += ["Per ramp step (mean ms of each part):", ""]
            for stack, result in locust["load"].items():
                fanout = "parallel" if stack == "async" else _fanout(result.get("env", {}))
                inference = expected_inference_ms(fanout, model_io["min"], model_io["max"], model_io["cpu"])
                step_rows = [
                    [s["users"], s["rps"], *decompose(s["stages_ms"], fanout, inference).values()]
                    for s in result["steps"]
                    if s["stages_ms"]
                ]
                lines += [f"**{stack}**", "", *_table(["users", "req/s", *parts], step_rows), ""]

    # Capacity model.
    cap_rows, cap_said = [], []
    for stack in STACKS:
        low, held, load = (locust[sc].get(stack) for sc in ("response_time", "max", "load"))
        if not (low and held and load):
            continue
        model = capacity_model(
            stack, held.get("env", {}), low["whole"]["stages_ms"].get("client", 0) or 1, held["cpu_ms_per_request"] or 0
        )
        found = load.get("breaking_point") or {}
        utilisation = (held["services_cpu_s"] + held["loadgen_cpu_s"]) / (held["wall_s"] * cpu_count())
        cap_rows.append(
            [
                stack,
                model["concurrency"],
                model["service_ms"],
                model["cpu_ms_per_request"],
                _services_share(held),
                model["x_concurrency_rps"],
                model["x_cpu_rps"],
                model["predicted_rps"],
                model["predicted_users"],
                found.get("rps"),
                found.get("users"),
                f"{100 * utilisation:.0f}% ours, {_fmt(held.get('machine_busy_pct'))}% machine",
            ]
        )
        if model["predicted_rps"] and found.get("rps"):
            cap_said.append(_capacity_sentence(stack, model, found, held, decomps))
    if cap_rows:
        lines += [
            "## Capacity model (Little's law) vs the measured breaking point",
            "",
            "X_concurrency = concurrency / service time (service time = mean response time at 1 user); "
            "X_cpu = 2 cores / CPU per request (all services, Redis and the load generator, measured from /proc "
            "while holding the breaking point). Predicted = the smaller; users = X × service time (N = X·R).",
            "",
        ]
        lines += _table(
            [
                "stack",
                "concurrency",
                "service ms",
                "CPU ms/req (all)",
                "of which services",
                "X_concurrency",
                "X_cpu",
                "predicted req/s",
                "predicted users",
                "measured req/s",
                "measured users",
                "CPU busy holding it",
            ],
            cap_rows,
        )
        lines += ["", *cap_said, ""]

    # I/O-bound vs CPU-bound.
    cpu_runs = {st: r for st in STACKS if (r := _load(root / "cpubound" / f"cpubound_{st}.json"))}
    if cpu_runs and locust["load"]:
        path = charts.ramp_chart(cpu_runs, settings.p95_limit_ms, "CPU-bound", figures / "cpubound_ramp.png")
        rows = []
        for label, runs in (
            ("I/O-bound (wait 40–50 ms)", locust["load"]),
            (
                f"CPU-bound ({settings.cpu_bound_cpu_ms:g} ms CPU per model call, wait ≤ {settings.cpu_bound_wait_max_ms:g} ms)",
                cpu_runs,
            ),
        ):
            fa, fs = (runs.get(st, {}).get("breaking_point") or {} for st in STACKS)
            rows.append(
                [
                    label,
                    fa.get("users"),
                    fs.get("users"),
                    fa.get("rps"),
                    fs.get("rps"),
                    _ratio(fa.get("rps"), fs.get("rps")),
                    fa.get("p95_ms"),
                    fs.get("p95_ms"),
                ]
            )
        lines += [
            "## When async helps, and when it does not",
            "",
            *_table(
                [
                    "run",
                    "break users async",
                    "break users sync",
                    "req/s async",
                    "req/s sync",
                    "async/sync",
                    "p95 async",
                    "p95 sync",
                ],
                rows,
            ),
            "",
            "With waits, the event loop overlaps them cheaply while sync needs a thread per waiting request; "
            "with CPU work there is nothing to overlap and both stacks are bounded by the same 2 cores. The "
            "ratios above are measured, not assumed.",
            "",
            f"![cpu-bound ramp]({path.relative_to(root)})",
            "",
        ]

    # timeit.
    timeit_csv = root / "timeit" / "timeit.csv"
    if timeit_csv.exists():
        by_stack: dict[str, dict[int, list[float]]] = {}
        with timeit_csv.open() as source:
            for row in csv.DictReader(source):
                by_stack.setdefault(row["stack"], {}).setdefault(int(row["n"]), []).append(float(row["seconds"]))
        path = charts.timeit_chart(by_stack, figures / "timeit.png")
        result = improvement(timeit_csv)
        lines += [
            "## timeit: N sequential calls",
            "",
            f"Async improves on sync by **{_fmt(result['overall_improvement_pct'])}%** over all N (sum of means). "
            "One call at a time measures latency only: no concurrency is exercised, so the gap is small by design.",
            "",
            *_table(
                ["N", "async mean ms", "sync mean ms", "improvement %"],
                [[r["n"], 1000 * r["async_s"], 1000 * r["sync_s"], r["improvement_pct"]] for r in result["per_n"]],
            ),
            "",
            f"![timeit]({path.relative_to(root)})",
            "",
            "Raw: [timeit.csv](timeit/timeit.csv)",
            "",
        ]

    # Sweep.
    sweep = sorted((root / "sweep").glob("sweep_*.json")) if (root / "sweep").exists() else []
    if sweep:
        rows = [sweep_row(json.loads(p.read_text())) for p in sweep]
        path = charts.sweep_chart(rows, figures / "sweep.png")
        lines += [
            "## Configuration sweep",
            "",
            f"Variants from [{settings.sweep_manifest.name}](../../{settings.sweep_manifest}); each gets its own "
            f"step ramp (+{settings.sweep_step_users} users every {settings.step_s} s for {settings.sweep_s} s, same "
            "breaking rule; a variant that never broke within its ramp has at least the capacity shown). `env` applies to all three services of the stack.",
            "",
            *_table(
                [
                    "variant",
                    "stack",
                    "env",
                    "p95 limit ms",
                    "break users",
                    "broke within the ramp",
                    "req/s at break",
                    "p95 ms",
                    "p99 ms",
                    "peak req/s",
                    "p99 at peak",
                    "CPU ms/req",
                    "failures",
                ],
                [list(r.values()) for r in rows],
            ),
            "",
            f"![sweep]({path.relative_to(root)})",
            "",
        ]

    # Profiles.
    profiles = root / "profiles"
    if profiles.exists():
        lines += [
            "## Profiles",
            "",
            "Each service ran with `SERVER_WORKERS=1` and `PROFILING_ALLOWED=true`; one request and a burst of "
            f"{settings.burst_requests} ({settings.burst_concurrency} concurrent) were profiled with "
            f"{' and '.join(TOOLS)}. Top functions by own CPU time in the yappi burst profile:",
            "",
        ]
        for stack in STACKS:
            for service in ("scoring", "model_a", "client"):
                top = top_functions(profiles, stack, service, 6)
                if top:
                    lines += [
                        f"**{stack} {service}**",
                        "",
                        *_table(
                            ["function", "where", "calls", "own ms", "total ms"],
                            [
                                [
                                    f"`{t['name']}`",
                                    f"{Path(t['module']).name}:{t['line']}",
                                    t["calls"],
                                    1000 * t["own_s"],
                                    1000 * t["total_s"],
                                ]
                                for t in top
                            ],
                        ),
                        "",
                    ]
        lines += ["Files: " + ", ".join(f"[{p.name}](profiles/{p.name})" for p in sorted(profiles.glob("*.html"))), ""]
    report = root / "report.md"
    report.write_text("\n".join(lines) + "\n")
    say(f"report -> {report}")
    return report


def _layout(cores: int) -> str:
    """The default worker layout on one host with ``cores`` cores, from the settings classes' defaults."""
    # Field defaults, not instances: an instance would also read this shell's SERVER_* variables.
    threads = ServerSettings.model_fields["threads"].default
    model_workers, model_threads = (StackSettings.model_fields[f].default for f in ("model_workers", "model_threads"))
    return (
        f"async = gunicorn with {workers_for('uvicorn', cores)} uvicorn workers for scoring and "
        f"{model_workers} per model service; sync = gunicorn gthread, {workers_for('gthread', cores)} "
        f"workers × {threads} threads for scoring and {model_workers} × {model_threads} per model service"
    )
