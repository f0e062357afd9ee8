"""``make perf``: each stack as ``make up`` starts it (default settings), and its minimal twin, under load.

For each stack in turn (never two at once): one connection, then a concurrency ladder, each step
a closed loop for a fixed time; then a memory check over many requests. Every answer is checked:
status 200 and the exact expected body of the entity it names. Reports, per stack: p50 at one
connection, the highest req/s whose p99 stays within 100 ms with zero errors, CPU time per scored
request (the stack's own processes summed, its edge apart, and per process), and RSS after warm-up and after the
memory run;
then how far each stack is from its minimal twin (benchmark/minimal, the floor) in CPU per request and capacity,
process by process, and how far the same stack on the twin's server (Granian) is: the server's share of the gap.

The load generator is ``wrk`` (Debian's package) when it is on PATH, else this suite's own generator in
closed-loop mode (benchmark/load/openloop.py). It shares the machine's cores with the stack, which the
report says beside every figure.
"""

from __future__ import annotations

import itertools
import json
import resource
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmark.analysis.decompose import expected_inference_ms, median_inference_ms
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.load.wrk import run_wrk, wrk_script
from benchmark.stacks.fingerprint import fingerprint
from benchmark.stacks.running import running_stack
from reference.api import predict_path
from system_launcher.registry import BUILDS
from system_launcher.topology import Stack

P99_LIMIT_MS = 100.0
LADDER = (1, 8, 16, 24, 32, 40, 48, 64, 80, 96, 128)
MEMORY_CONNECTIONS = 32
PATHS = ("edge", "direct")  # through the edge as users reach the stack, and straight to the scoring server
FLOOR_CONNECTIONS = (32, 64)  # where the distance to the minimal twin is read (doc/performance.md's targets)
EDGE = "edge"  # the edge's part of a stack's CPU: Envoy, in front of the stack's own processes
# The stack on Granian, the twin's server (straight to the scoring server only): the server held constant, so that
# the distance to the twin splits into the server's part and the rest (framework, middleware, clients).
ON_GRANIAN = "full-granian"
# The ladder's other rungs (people, bare) are the answer's to measure (python -m benchmark answer --bench); --builds
# names them here too.
PERF_BUILDS = (*BUILDS, ON_GRANIAN)
DEFAULT_PERF_BUILDS = ("full", "minimal", ON_GRANIAN)


@dataclass
class Step:
    """One closed-loop run at a fixed number of connections."""

    connections: int
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors, non-2xx and wrong answers
    cpu_ms_per_request: float  # the stack's own processes: Redis and every service worker, its edge excluded
    client_cpu_ms_per_request: float  # the load generator, on the same cores
    cpu_ms_by_part: dict[str, float] = field(default_factory=dict)  # per process: scoring, model_a..., edge
    edge_cpu_ms_per_request: float = 0.0  # the edge (Envoy), when it runs


def load_tool() -> str:
    """``wrk`` when it is on PATH, else ``openloop`` (this suite's generator, in closed-loop mode)."""
    return "wrk" if shutil.which("wrk") else "openloop"


def _closed_loop(tool: str, stack: Stack, url: str, script: Path):
    """A function running one closed-loop step with ``tool``: (connections, seconds) -> summary in wrk's shape."""

    def run(connections: int, seconds: float) -> dict:
        if tool == "wrk":
            return run_wrk(url, connections, seconds, script)
        result = run_generator(url + predict_path(stack), Plan(duration_s=seconds, closed_connections=connections,
                                                               timeout_s=5.0))  # fmt: skip
        latency = result["latency"]
        return {"requests": result["requests"], "errors": result["errors"], "duration_s": seconds,
                **{f"{q}_ms": latency[f"{q}_ms"] or 0.0 for q in ("p50", "p90", "p99", "max")}}  # fmt: skip

    return run


def measure_stack(stack: Stack, paths: list[str], ladder: list[int], step_s: float, memory_requests: int, tool: str,
                  say, build: str = "full") -> list[dict]:  # fmt: skip
    """Start the stack (or its minimal twin, or the stack on Granian: ``PERF_BUILDS``) with default settings; for
    each path (through the edge, or direct to the scoring server; the twin and the stack on Granian have only the
    direct one) run the ladder; then the memory check on the first path (not on Granian); stop it. One result per
    path."""
    results = []
    paths = paths if build == "full" else ["direct"]
    env = {f"STACK_{stack.upper()}_SERVER": "granian"} if build == ON_GRANIAN else {}
    if "edge" not in paths:
        env["STACK_EDGE"] = "false"  # nothing goes through it: it does not run
    started = "full" if build == ON_GRANIAN else build
    with running_stack(stack, env=env, say=say, build=started) as running, tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "perf.lua"
        script.write_text(wrk_script(stack))
        for number, path in enumerate(paths):
            run = _closed_loop(tool, stack, running.base_url(path), script)
            run(8, 3)  # warm-up: connections, pools, caches
            rss_warm = running.rss_kib()
            steps = [_step(run, running, build, path, connections, step_s, say) for connections in ladder]
            served = sum(s.requests for s in steps)
            if number == 0 and build != ON_GRANIAN and (remaining := max(0, memory_requests - served)) > 0:
                say(f"  {stack:5} memory run: {remaining} more requests at {MEMORY_CONNECTIONS} connections")
                rate = max((s.rps for s in steps if s.connections == MEMORY_CONNECTIONS), default=500.0)
                run(MEMORY_CONNECTIONS, max(5.0, remaining / max(rate, 1.0)))
                served = max(memory_requests, served)
            results.append(_summary(stack, path, steps, rss_warm, running.rss_kib(), served) | {"build": build})
    return results


def _step(run, running, build: str, path: str, connections: int, step_s: float, say) -> Step:
    # The stack's CPU is the sum of its processes': one reading of each, before and after.
    parts_before, client_before = running.cpu_s_by_part(), _children_cpu_s()
    result = run(connections, step_s)
    answered = max(1, result["requests"])
    used = {part: cpu - parts_before.get(part, 0.0) for part, cpu in running.cpu_s_by_part().items()}
    step = Step(
        connections=connections,
        rps=round(result["requests"] / result["duration_s"], 1),
        cpu_ms_per_request=round(sum(cpu for part, cpu in used.items() if part != EDGE) * 1000 / answered, 3),
        edge_cpu_ms_per_request=round(used.get(EDGE, 0.0) * 1000 / answered, 3),
        client_cpu_ms_per_request=round((_children_cpu_s() - client_before) * 1000 / answered, 3),
        cpu_ms_by_part={part: round(cpu * 1000 / answered, 3) for part, cpu in used.items()},
        **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items() if k != "duration_s"},
    )
    say(
        f"  {build:12} {running.stack:5} {path:6} c={connections:<4} {step.rps:8.1f} req/s  p50 {step.p50_ms:6.1f}"
        f"  p99 {step.p99_ms:6.1f} ms  errors {step.errors}  CPU {step.cpu_ms_per_request:.2f} ms/req"
        f" (+{step.edge_cpu_ms_per_request:.2f} edge, +{step.client_cpu_ms_per_request:.2f} load generator)"
    )
    return step


def _summary(stack: Stack, path: str, steps: list[Step], rss_warm: int, rss_end: int, served: int) -> dict:
    passing = [s for s in steps if s.p99_ms <= P99_LIMIT_MS and s.errors == 0]
    best = max(passing, key=lambda s: s.rps, default=None)
    one = next((s for s in steps if s.connections == 1), None)
    return {
        "stack": stack,
        "path": path,
        "steps": [asdict(s) for s in steps],
        "p50_at_1_connection_ms": one.p50_ms if one else None,
        "best_within_p99": asdict(best) if best else None,
        "rss_after_warmup_mib": round(rss_warm / 1024, 1),
        "rss_after_run_mib": round(rss_end / 1024, 1),
        "requests_before_rss_check": served,
    }


def edge_cost(results: list[dict], connections: int = MEMORY_CONNECTIONS) -> list[dict]:
    """Per stack, what the edge adds: p50 at one connection, and the stack's CPU per request at ``connections``
    (the stack as ``make up`` runs it: its twin and its run on Granian have no edge to compare with)."""
    by = {(r["stack"], r["path"]): r for r in results if r.get("build", "full") == "full"}
    rows = []
    for stack in dict.fromkeys(r["stack"] for r in results):
        edge, direct = by.get((stack, "edge")), by.get((stack, "direct"))
        if not (edge and direct):
            continue
        cpu = [next((_with_edge(s) for s in r["steps"] if s["connections"] == connections), None)
               for r in (edge, direct)]  # fmt: skip
        rows.append({
            "stack": stack,
            "p50_1_edge_ms": edge["p50_at_1_connection_ms"], "p50_1_direct_ms": direct["p50_at_1_connection_ms"],
            "connections": connections, "cpu_edge_ms": cpu[0], "cpu_direct_ms": cpu[1],
        })  # fmt: skip
    return rows


def floor_distance(results: list[dict], connections: tuple[int, ...] = FLOOR_CONNECTIONS) -> list[dict]:
    """Per stack and number of connections: the full stack (direct) against its minimal twin, CPU and rate."""
    by = {(r["stack"], r.get("build", "full"), r["path"]): r for r in results}
    rows = []
    for stack, build in itertools.product(dict.fromkeys(r["stack"] for r in results), ("full", ON_GRANIAN)):
        full, minimal = by.get((stack, build, "direct")), by.get((stack, "minimal", "direct"))
        if not (full and minimal):
            continue
        best = [(r["best_within_p99"] or {}).get("rps") for r in (full, minimal)]
        for c in connections:
            steps = [next((s for s in r["steps"] if s["connections"] == c), None) for r in (full, minimal)]
            if None in steps:
                continue
            parts = [{k: v for k, v in (s.get("cpu_ms_by_part") or {}).items() if k != EDGE} for s in steps]
            rows.append({"stack": stack, "build": build, "connections": c,
                         "cpu_full_ms": steps[0]["cpu_ms_per_request"],
                         "cpu_minimal_ms": steps[1]["cpu_ms_per_request"],
                         "parts": {part: (parts[0].get(part), parts[1].get(part))
                                   for part in dict.fromkeys([*parts[0], *parts[1]])},
                         "rps_full": steps[0]["rps"], "rps_minimal": steps[1]["rps"],
                         "best_full": best[0], "best_minimal": best[1]})  # fmt: skip
    return rows


def _distance_by_part(rows: list[dict]) -> list[str]:
    """Where each stack's distance to its twin is: CPU per request of each process, stack against twin."""
    if not any(row["parts"] for row in rows):
        return []  # results from before the split was recorded
    lines = ["", "### Where the distance is, by process", "",
             "The same steps' CPU per scored request, split by the process that spent it (a service counts all its "
             "workers).", "", "| stack | connections | process | stack ms | twin ms | stack − twin |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        for part, (full, minimal) in row["parts"].items():
            difference = f"{full - minimal:+.3f}" if full is not None and minimal is not None else "–"
            cells = ["–" if v is None else v for v in (full, minimal)]
            lines.append(f"| {_stack_cell(row)} | {row['connections']} | {part} | {cells[0]} | {cells[1]} "
                         f"| {difference} |")  # fmt: skip
    return lines


def _stack_cell(row: dict) -> str:
    return f"{row['stack']} on Granian" if row.get("build") == ON_GRANIAN else row["stack"]


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def floors_ms(services: dict) -> tuple[float, float]:
    """The mean and median model wait a request cannot beat, from the services' recorded settings."""
    model, fanout = services["model"], services["scoring"]["fanout"]
    args = (fanout, model["wait_min_ms"], model["wait_max_ms"], model["cpu_ms"])
    return round(expected_inference_ms(*args), 2), round(median_inference_ms(*args), 2)


def render(results: list[dict], meta: dict) -> str:
    """The Markdown tables: headline figures per stack and path, what the edge costs, every step."""
    print_ = meta["fingerprint"]
    mean_ms, median_ms = floors_ms(print_["services"])
    lines = [
        "# make perf",
        "",
        f"Load generator: **{meta['tool']}**, on the same {print_['cpu_count']}-core machine as the stack under "
        f"test (one stack at a time, default settings as `make up` starts them; *edge*: through Envoy on the port "
        f"users know, *direct*: to the scoring server). {meta['step_s']:g} s per step. "
        f"Git {print_.get('git_sha', '?')[:12]}, {meta['when']}.",
        "",
        "| stack | build | path | p50 at 1 connection | floor: mean, median "
        "| highest req/s of a step with p99 ≤ 100 ms, 0 errors (a lower bound on capacity) "
        "| at connections | CPU ms per request there (stack + edge, if any, + load generator) "
        "| RSS after warm-up → after run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        best = r["best_within_p99"]
        lines.append(
            f"| {r['stack']} | {r.get('build', 'full')} | {r['path']} | {r['p50_at_1_connection_ms']} ms "
            f"| {mean_ms} ms, {median_ms} ms "
            f"| {best['rps'] if best else 'none'} | {best['connections'] if best else '-'} "
            f"| {_cpu_cell(best) if best else '-'} "
            f"| {r['rss_after_warmup_mib']} → {r['rss_after_run_mib']} MiB "
            f"({r['requests_before_rss_check']} requests) |"
        )
    if costs := edge_cost(results):
        lines += ["", "## What the edge costs", "", "| stack | p50 at 1 connection: edge − direct | CPU ms per request "
                  "of the stack and its edge at the same connections: edge − direct |", "|---|---|---|"]  # fmt: skip
        for c in costs:
            cpu = (f"{c['cpu_edge_ms']} − {c['cpu_direct_ms']} = {c['cpu_edge_ms'] - c['cpu_direct_ms']:+.3f} ms "
                   f"(c={c['connections']})" if c["cpu_edge_ms"] is not None and c["cpu_direct_ms"] is not None
                   else "–")  # fmt: skip
            lines.append(f"| {c['stack']} | {c['p50_1_edge_ms']} − {c['p50_1_direct_ms']} = "
                         f"{c['p50_1_edge_ms'] - c['p50_1_direct_ms']:+.2f} ms | {cpu} |")  # fmt: skip
    if rows := floor_distance(results):
        lines += ["", "## How far each stack is from its minimal twin", "",
                  "Direct to the scoring server, the same ladder and machine; the twin (benchmark/minimal) is the "
                  "floor.",
                  "", "| stack | connections | CPU ms per request: stack / twin = ratio | req/s: stack / twin "
                  "| highest req/s of a step within p99 ≤ 100 ms (lower bounds): stack / twin = ratio |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for row in rows:
            lines.append(
                f"| {_stack_cell(row)} | {row['connections']} | {row['cpu_full_ms']} / {row['cpu_minimal_ms']} = "
                f"{_ratio(row['cpu_full_ms'], row['cpu_minimal_ms'])} | {row['rps_full']} / {row['rps_minimal']} "
                f"| {row['best_full']} / {row['best_minimal']} = {_ratio(row['best_full'], row['best_minimal'])} |"
            )
        lines += _distance_by_part(rows)
    lines += ["", "## Every step", "", "| stack | build | path | connections | req/s | p50 ms | p90 ms | p99 ms "
              "| max ms "
              "| errors | CPU ms/req (stack + edge, if any, + load generator) |", "|" + "---|" * 11]  # fmt: skip
    for r in results:
        for s in r["steps"]:
            lines.append(
                f"| {r['stack']} | {r.get('build', 'full')} | {r['path']} | {s['connections']} | {s['rps']} "
                f"| {s['p50_ms']} | {s['p90_ms']} "
                f"| {s['p99_ms']} | {s['max_ms']} | {s['errors']} | {_cpu_cell(s)} |"
            )
    return "\n".join(lines) + "\n"


def run_perf(stacks: list[Stack], paths: list[str], ladder: list[int], step_s: float, memory_requests: int,
             out: Path, say, builds: tuple[str, ...] = DEFAULT_PERF_BUILDS) -> Path:  # fmt: skip
    """Measure each stack in turn, write ``perf.json`` and ``perf.md`` under ``out``, and return the table's path."""
    tool = load_tool()
    say(f"load generator: {tool}" + ("" if tool == "wrk" else " (wrk not on PATH: our closed-loop generator)"))
    results = [r for stack in stacks for build in builds
               for r in measure_stack(stack, paths, ladder, step_s, memory_requests, tool, say, build)]  # fmt: skip
    meta = {"tool": tool, "step_s": step_s, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "fingerprint": fingerprint()}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    table = render(results, meta)
    (out / "perf.md").write_text(table)
    say("\n" + table)
    return out / "perf.md"


def _with_edge(step: dict) -> float:
    """The stack's CPU per request with its edge's (results written before the split already hold it)."""
    return round(step["cpu_ms_per_request"] + step.get("edge_cpu_ms_per_request", 0.0), 3)


def _cpu_cell(step: dict) -> str:
    edge = step.get("edge_cpu_ms_per_request") or 0.0
    total = step["cpu_ms_per_request"] + edge + step["client_cpu_ms_per_request"]
    with_edge = f" + {edge}" if edge else ""
    return f"{step['cpu_ms_per_request']}{with_edge} + {step['client_cpu_ms_per_request']} = {total:.3f}"


def _children_cpu_s() -> float:
    # The load generator is our child: its CPU is counted here once it has been waited for.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
