"""``make perf``: each stack as ``make up`` starts it (default settings), against an external load generator.

For each stack in turn (never both at once): one connection, then a concurrency ladder, each step
a closed loop for a fixed time; then a memory check over many requests. Every answer is checked:
status 200 and the exact expected body of the entity it names. Reports, per stack: p50 at one
connection, the highest req/s whose p99 stays within 100 ms with zero errors, CPU time per scored
request (all the stack's processes summed), and RSS after warm-up and after the memory run.

The load generator is ``wrk`` (Debian's package) when it is on PATH, else Locust's FastHttpUser.
It shares the machine's cores with the stack, which the report says beside every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.cpu import group_cpu_s
from benchmark.expected import expected_body
from benchmark.fingerprint import fingerprint
from benchmark.stackrun import running_stack
from common.routes import Stack, predict_path

P99_LIMIT_MS = 100.0
FLOOR_MS = {"parallel": 46.7, "sequential": 90.0}  # E[max] and E[sum] of two U(40, 50) ms waits
# The median of max(U1, U2) solves ((x - 40) / 10) ** 2 = 1/2: the floor a p50 is compared with.
FLOOR_P50_MS = round(40 + 10 / 2**0.5, 2)
ENTITIES = 1000  # ids 0..999, rotated; every answer names its entity, so each is checked exactly


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
    cpu_ms_per_request: float  # the stack's processes: Redis and every service worker
    client_cpu_ms_per_request: float  # the load generator, on the same cores


def wrk_script(stack: Stack) -> str:
    """A wrk Lua script: rotate entities, check every answer against its expected bytes, print JSON."""
    bodies = "\n".join(f'  ["{i}"] = [[{expected_body(str(i)).decode()}]],' for i in range(ENTITIES))
    return f"""
local expected = {{
{bodies}
}}
local path = "{predict_path(stack)}"
local counter = 0
invalid = 0  -- a global: done() reads it from every thread with thread:get()
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function request()
  counter = counter + 1
  return wrk.format("POST", path, {{["Content-Type"] = "application/json"}},
                    '{{"entity_id": "' .. (counter % {ENTITIES}) .. '"}}')
end
function response(status, headers, body)
  local id = string.match(body, '"entity_id":"([^"]+)"')
  if status ~= 200 or id == nil or expected[id] ~= body then invalid = invalid + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("invalid") end
  local e = summary.errors
  io.write(string.format('PERF {{"requests": %d, "duration_s": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "errors": %d}}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout + bad))
end
"""


def run_wrk(url: str, connections: int, duration_s: float, script: Path) -> dict:
    """One wrk run; its JSON summary."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--timeout", "5s",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=duration_s + 60, check=True,
    ).stdout  # fmt: skip
    return json.loads(next(line for line in out.splitlines() if line.startswith("PERF ")).removeprefix("PERF "))


def run_locust(url: str, stack: Stack, connections: int, duration_s: float, workdir: Path) -> dict:
    """One Locust FastHttpUser run (closed loop, ``connections`` users); its summary in wrk's shape."""
    prefix = workdir / f"locust-{connections}"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", "benchmark/locustfile.py", "--headless", "--host", url,
         "--stack", stack, "-u", str(connections), "-r", str(connections), "-t", f"{duration_s:g}s",
         "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
        capture_output=True, text=True, timeout=duration_s + 120, check=False,
    )  # fmt: skip
    import csv

    with open(f"{prefix}_stats.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {
        "requests": int(row["Request Count"]),
        "duration_s": duration_s,
        "p50_ms": float(row["50%"]),
        "p90_ms": float(row["90%"]),
        "p99_ms": float(row["99%"]),
        "max_ms": float(row["Max Response Time"]),
        "errors": int(row["Failure Count"]),
    }


def measure_stack(stack: Stack, ladder: list[int], step_s: float, memory_requests: int, tool: str, say) -> dict:
    """Start the stack with default settings, run the ladder and the memory check, stop it."""
    with running_stack(stack, say=say) as running, tempfile.TemporaryDirectory() as tmp:
        url = running.url()
        script = Path(tmp) / "perf.lua"
        script.write_text(wrk_script(stack))
        pgids = {p.popen.pid for p in running.supervisor.processes}

        def run(connections: int, seconds: float) -> dict:
            if tool == "wrk":
                return run_wrk(url, connections, seconds, script)
            return run_locust(url, stack, connections, seconds, Path(tmp))

        run(8, 3)  # warm-up: connections, pools, caches
        rss_warm = _rss_kib(pgids)
        steps = []
        for connections in ladder:
            cpu_before, client_before = group_cpu_s(pgids), _children_cpu_s()
            result = run(connections, step_s)
            answered = max(1, result["requests"])
            cpu_ms = (group_cpu_s(pgids) - cpu_before) * 1000 / answered
            client_ms = (_children_cpu_s() - client_before) * 1000 / answered
            step = Step(
                connections=connections,
                rps=round(result["requests"] / result["duration_s"], 1),
                cpu_ms_per_request=round(cpu_ms, 3),
                client_cpu_ms_per_request=round(client_ms, 3),
                **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items() if k != "duration_s"},
            )
            steps.append(step)
            say(
                f"  {stack:5} c={connections:<4} {step.rps:8.1f} req/s  p50 {step.p50_ms:6.1f}"
                f"  p99 {step.p99_ms:6.1f} ms  errors {step.errors}  CPU {step.cpu_ms_per_request:.2f} ms/req"
                f" (+{step.client_cpu_ms_per_request:.2f} load generator)"
            )
        served = sum(s.requests for s in steps)
        remaining = max(0, memory_requests - served)
        if remaining:
            say(f"  {stack:5} memory run: {remaining} more requests at 32 connections")
            rate = max((s.rps for s in steps if s.connections == 32), default=500.0)
            run(32, max(5.0, remaining / max(rate, 1.0)))
        rss_end = _rss_kib(pgids)
    passing = [s for s in steps if s.p99_ms <= P99_LIMIT_MS and s.errors == 0]
    best = max(passing, key=lambda s: s.rps, default=None)
    one = next((s for s in steps if s.connections == 1), None)
    return {
        "stack": stack,
        "steps": [asdict(s) for s in steps],
        "p50_at_1_connection_ms": one.p50_ms if one else None,
        "best_within_p99": asdict(best) if best else None,
        "rss_after_warmup_mib": round(rss_warm / 1024, 1),
        "rss_after_run_mib": round(rss_end / 1024, 1),
        "requests_before_rss_check": max(memory_requests, served),
    }


def render(results: list[dict], meta: dict) -> str:
    """The Markdown table of the headline figures."""
    lines = [
        "# make perf",
        "",
        f"Load generator: **{meta['tool']}**, on the same 2-core machine as the stack under test "
        f"(one stack at a time, default settings as `make up` starts them). {meta['step_s']:g} s per step. "
        f"Git {meta['fingerprint'].get('git_sha', '?')[:12]}, {meta['when']}.",
        "",
        "| stack | p50 at 1 connection | floor: mean, median | highest req/s with p99 ≤ 100 ms, 0 errors "
        "| at connections | CPU ms per request there (stack + load generator) | RSS after warm-up → after run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        best = r["best_within_p99"]
        lines.append(
            f"| {r['stack']} | {r['p50_at_1_connection_ms']} ms | {FLOOR_MS['parallel']} ms, {FLOOR_P50_MS} ms "
            f"| {best['rps'] if best else 'none'} | {best['connections'] if best else '-'} "
            f"| {_cpu_cell(best) if best else '-'} "
            f"| {r['rss_after_warmup_mib']} → {r['rss_after_run_mib']} MiB "
            f"({r['requests_before_rss_check']} requests) |"
        )
    lines += ["", "## Every step", "", "| stack | connections | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
              "| CPU ms/req (stack + load generator) |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        for s in r["steps"]:
            lines.append(
                f"| {r['stack']} | {s['connections']} | {s['rps']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} "
                f"| {s['max_ms']} | {s['errors']} | {_cpu_cell(s)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure both stacks, print the table and say where the results went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", default="async,sync")
    parser.add_argument("--ladder", default="1,8,16,24,32,40,48,64,80,96,128")
    parser.add_argument("--step-s", type=float, default=10.0)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("doc/results/perf"))
    args = parser.parse_args(argv)
    tool = "wrk" if shutil.which("wrk") else "locust"
    print(f"load generator: {tool}" + ("" if tool == "wrk" else " (wrk not on PATH: apt-get install wrk)"))
    ladder = [int(c) for c in args.ladder.split(",")]
    results = [
        measure_stack(stack, ladder, args.step_s, args.memory_requests, tool, say=lambda line: print(line, flush=True))
        for stack in args.stacks.split(",")
    ]
    meta = {"tool": tool, "step_s": args.step_s, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "fingerprint": fingerprint()}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "perf.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    table = render(results, meta)
    (args.out / "perf.md").write_text(table)
    print("\n" + table)
    print(f"results: {args.out / 'perf.md'} and {args.out / 'perf.json'}")
    return 0


def _cpu_cell(step: dict) -> str:
    total = step["cpu_ms_per_request"] + step["client_cpu_ms_per_request"]
    return f"{step['cpu_ms_per_request']} + {step['client_cpu_ms_per_request']} = {total:.3f}"


def _children_cpu_s() -> float:
    # The load generator is our child: its CPU is counted here once it has been waited for.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rss_kib(pgids: set[int]) -> int:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[2]) not in pgids:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError):
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


if __name__ == "__main__":
    sys.exit(main())
