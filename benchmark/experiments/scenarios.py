"""The four Locust scenarios of one stack (response time, load ramp, max performance, stress), and the CPU-bound run."""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmark.analysis.windows import breaking_point, load_samples, steps, whole
from benchmark.load.locust_runner import LocustRun, run_locust
from benchmark.settings import BenchSettings
from benchmark.stacks.running import running_stack
from system_launcher.procfs import machine_cpu_s
from system_launcher.topology import STACKS

SCENARIOS = ("response_time", "load", "max", "stress")
WARMUP_S = 2  # seconds dropped at the start of fixed-user scenarios (connections being opened)


def _measure(run: LocustRun, out: Path, stack, settings: BenchSettings, ramp: bool,
             p95_limit_ms: float | None = None) -> dict:  # fmt: skip
    """Run one Locust scenario and summarise it: whole run, ramp steps, CPU of services and load generator."""
    cpu_before, machine_before = stack.cpu_s(), machine_cpu_s()
    result = run_locust(run, out)
    result["services_cpu_s"] = round(stack.cpu_s() - cpu_before, 3)
    machine = {k: v - machine_before[k] for k, v in machine_cpu_s().items()}
    # The whole machine's busy share: ours plus whatever else runs on this shared host.
    result["machine_busy_pct"] = round(100 * machine["busy_s"] / machine["total_s"], 1) if machine["total_s"] else None
    result["machine_steal_pct"] = (
        round(100 * machine["steal_s"] / machine["total_s"], 1) if machine["total_s"] else None
    )
    samples = load_samples(result["samples"])
    result["per_second"] = [whole([s]).summary() | {"t": s["t"]} for s in samples]
    result["whole"] = whole(samples, 0 if ramp else min(WARMUP_S, len(samples) // 4)).summary()
    requests = whole(samples).count
    result["cpu_ms_per_request"] = (
        round(1000 * (result["services_cpu_s"] + result["loadgen_cpu_s"]) / requests, 3) if requests else None
    )
    if ramp:
        windows = steps(samples, settings.settle_s)
        result["steps"] = [w.summary() for w in windows]
        result["p95_limit_ms"] = p95_limit_ms or settings.p95_limit_ms
        found = breaking_point(windows, result["p95_limit_ms"])
        result["breaking_point"] = found.summary() if found else None
        result["ramp_saturated"] = found is not None and found.users < max(w.users for w in windows)
    return result


def _save(result: dict, path: Path) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def run_stack_scenarios(stack_name: str, settings: BenchSettings, out: Path, only: str | None = None,
                        env: dict[str, str] | None = None, say=print) -> dict[str, dict]:  # fmt: skip
    """Start the stack, run the scenarios in order (each later one uses the ramp's breaking point), stop it."""
    results: dict[str, dict] = {}
    wanted = SCENARIOS if only in (None, "all") else (only,)
    with running_stack(stack_name, env, say=say) as stack:

        def run(name: str, path: str = "edge", **kw) -> LocustRun:
            return LocustRun(result_name(name, stack_name, path), stack_name, stack.base_url(path), seed=settings.seed,
                             entities=settings.entities, processes=settings.locust_processes, **kw)  # fmt: skip

        if "response_time" in wanted:
            say(f"  [{stack_name}] response time: 1 user paced at 1 s for {settings.response_time_s}s")
            locust = run("response_time", duration_s=settings.response_time_s, users=1, pacing_s=1.0)
            results["response_time"] = _measure(locust, out, stack, settings, ramp=False)
        break_users = settings.step_users
        if wanted != ("response_time",):
            say(f"  [{stack_name}] load ramp: +{settings.step_users} users every {settings.step_s}s "
                f"for {settings.load_s}s")  # fmt: skip
            locust = run("load", duration_s=settings.load_s, ramp_step_users=settings.step_users,
                         ramp_step_s=settings.step_s)  # fmt: skip
            results["load"] = _measure(locust, out, stack, settings, ramp=True)
            found = results["load"]["breaking_point"]
            break_users = found["users"] if found else settings.step_users
            say(
                f"  [{stack_name}] breaking point: {break_users} users"
                + (f", {found['rps']} req/s, p95 {found['p95_ms']} ms" if found else " (no step met the rule)")
            )
        if "max" in wanted:
            say(f"  [{stack_name}] max performance: hold {break_users} users for {settings.max_s}s")
            locust = run("max", duration_s=settings.max_s, users=break_users)
            results["max"] = _measure(locust, out, stack, settings, ramp=False)
        if "stress" in wanted:
            stress_users = max(break_users + settings.step_users, math.ceil(settings.stress_factor * break_users))
            say(f"  [{stack_name}] stress: {stress_users} users for {settings.stress_s}s")
            locust = run("stress", duration_s=settings.stress_s, users=stress_users)
            results["stress"] = _measure(locust, out, stack, settings, ramp=False)
        # Low load and the ramp again, straight to the scoring server: what the edge costs (the report compares).
        if "response_time" in wanted:
            say(f"  [{stack_name}] response time, direct to the scoring server (no edge)")
            locust = run("response_time", "direct", duration_s=settings.response_time_s, users=1, pacing_s=1.0)
            results[result_name("response_time", stack_name, "direct")] = _measure(locust, out, stack, settings,
                                                                                   ramp=False)  # fmt: skip
        if "load" in wanted:
            say(f"  [{stack_name}] load ramp, direct to the scoring server (no edge)")
            locust = run("load", "direct", duration_s=settings.load_s, ramp_step_users=settings.step_users,
                         ramp_step_s=settings.step_s)  # fmt: skip
            results[result_name("load", stack_name, "direct")] = _measure(locust, out, stack, settings, ramp=True)
    for name, result in results.items():
        result["env"] = env or {}
        _save(result, out / f"{name if name.endswith('_direct') else result_name(name, stack_name)}.json")
    return results


def result_name(scenario: str, stack: str, path: str = "edge") -> str:
    """The files' name of one run: ``load_async`` through the edge, ``load_async_direct`` straight to the server."""
    return f"{scenario}_{stack}" + ("" if path == "edge" else f"_{path}")


def run_ramp(stack_name: str, name: str, settings: BenchSettings, out: Path, env: dict[str, str],
             duration_s: int, step_users: int, p95_limit_ms: float | None = None, say=print) -> dict:  # fmt: skip
    """Start the stack with ``env``, run one step ramp named ``name``, stop it: capacity and tail latency."""
    with running_stack(stack_name, env, say=say) as stack:
        locust = LocustRun(name, stack_name, stack.url(), duration_s=duration_s, ramp_step_users=step_users,
                           ramp_step_s=settings.step_s, seed=settings.seed, entities=settings.entities,
                           processes=settings.locust_processes, html=False)  # fmt: skip
        result = _measure(locust, out, stack, settings, ramp=True, p95_limit_ms=p95_limit_ms)
    result["env"] = env
    found = result["breaking_point"]
    say(f"  {name}: " + (f"{found['users']} users, {found['rps']} req/s, p95 {found['p95_ms']} ms" if found
                         else "no step met the rule"))  # fmt: skip
    return _save(result, out / f"{name}.json")


def run_cpu_bound(settings: BenchSettings, say=print) -> None:
    """The step ramp of each stack with models that burn CPU instead of waiting."""
    env = {"MODEL_CPU_MS": str(settings.cpu_bound_cpu_ms), "MODEL_WAIT_MAX_MS": str(settings.cpu_bound_wait_max_ms),
           "MODEL_WAIT_MIN_MS": "0"}  # fmt: skip
    for stack in STACKS:
        run_ramp(stack, f"cpubound_{stack}", settings, settings.results / "cpubound", env, settings.cpu_bound_s,
                 settings.cpu_bound_step_users, say=say)  # fmt: skip


def run_locust_experiments(settings: BenchSettings, scenario: str = "all", say=print) -> None:
    """One scenario (or all, then the CPU-bound run) for each stack, one stack at a time."""
    if scenario in ("all", *SCENARIOS):
        for stack in STACKS:
            say(f"locust: {stack} stack")
            run_stack_scenarios(stack, settings, settings.results / "locust", scenario, say=say)
    if scenario in ("all", "cpubound"):
        say("locust: CPU-bound run")
        run_cpu_bound(settings, say=say)
