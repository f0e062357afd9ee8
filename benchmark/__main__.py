"""``python -m benchmark {all,profile,timeit,locust,sweep,report}``: what the make targets run."""

from __future__ import annotations

import argparse
import sys
import time

from benchmark.fingerprint import write_fingerprint
from benchmark.profile_bench import run_profiles
from benchmark.report import build_report
from benchmark.scenarios import SCENARIOS, run_ramp, run_stack_scenarios
from benchmark.settings import BenchSettings, load_settings
from benchmark.sweep import run_sweep
from benchmark.timeit_bench import run_timeit

STACKS = ("async", "sync")
PHASE_DIRS = {"profile": "profiles"}


def say(line: str) -> None:
    """Progress lines, flushed at once (make and log files buffer otherwise)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def cpu_bound(settings: BenchSettings) -> None:
    """The step ramp of each stack with models that burn CPU instead of waiting."""
    env = {"MODEL_CPU_MS": str(settings.cpu_bound_cpu_ms), "MODEL_WAIT_MAX_MS": str(settings.cpu_bound_wait_max_ms),
           "MODEL_WAIT_MIN_MS": "0"}  # fmt: skip
    for stack in STACKS:
        run_ramp(stack, f"cpubound_{stack}", settings, settings.results / "cpubound", env, settings.cpu_bound_s,
                 settings.cpu_bound_step_users, say=say)  # fmt: skip


def locust(settings: BenchSettings, scenario: str) -> None:
    """One scenario (or all, then the CPU-bound run) for each stack, one stack at a time."""
    if scenario in ("all", *SCENARIOS):
        for stack in STACKS:
            say(f"locust: {stack} stack")
            run_stack_scenarios(stack, settings, settings.results / "locust", scenario, say=say)
    if scenario in ("all", "cpubound"):
        say("locust: CPU-bound run")
        cpu_bound(settings)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen experiment(s), then say where the results went."""
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__)
    parser.add_argument("what", choices=["all", "profile", "timeit", "locust", "sweep", "report"])
    parser.add_argument("--scenario", default="all", choices=["all", *SCENARIOS, "cpubound"])
    args = parser.parse_args(argv)
    settings = load_settings()
    root = settings.results
    started = time.monotonic()
    say(f"benchmark {args.what} ({'quick' if settings.quick else 'full'}) -> {root}")
    if args.what == "all":  # the run's fingerprint; `report` alone keeps the one of the run it reports on
        write_fingerprint(root, **settings.model_dump())
    phases = ["profile", "timeit", "locust", "sweep"] if args.what == "all" else [args.what]
    for phase in phases:
        if phase != "report":
            write_fingerprint(root / PHASE_DIRS.get(phase, phase), **settings.model_dump())
        if phase == "profile":
            run_profiles(settings, root / "profiles", say=say)
        elif phase == "timeit":
            run_timeit(settings, root / "timeit", say=say)
        elif phase == "locust":
            locust(settings, args.scenario)
        elif phase == "sweep":
            run_sweep(settings, root / "sweep", say=say)
    report = build_report(settings, say=say)
    say(f"done in {time.monotonic() - started:.0f}s; results in {root}/, report at {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
