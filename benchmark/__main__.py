"""``python -m benchmark EXPERIMENT``: every experiment of the benchmark suite, and the report.

Run from the repository root. Each experiment starts the stacks it measures on free ports, one at a
time, and writes its results (with the machine fingerprint and git sha) under the results directory;
``report`` rebuilds ``report.md`` from what is on disk.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmark.experiments.burst import run_burst
from benchmark.experiments.calibration import run_calibration
from benchmark.experiments.curves import run_curves
from benchmark.experiments.jobs import run_jobs
from benchmark.experiments.manifest import Choice
from benchmark.experiments.model_serving import PLANS, run_model_serving
from benchmark.experiments.perf import DEFAULT_PERF_BUILDS, LADDER, PATHS, PERF_BUILDS, run_perf
from benchmark.experiments.profiles import run_profiles
from benchmark.experiments.scenarios import SCENARIOS, run_locust_experiments
from benchmark.experiments.sweep import run_sweep
from benchmark.experiments.timeit_runs import run_timeit
from benchmark.report.build import build_report
from benchmark.settings import BenchSettings, load_settings
from benchmark.stacks.fingerprint import finished_here, mark_finished, same_run, write_fingerprint
from system_launcher.topology import STACKS

# The phases of `all`, in order, and the directory each writes under the results directory.
PHASES = {
    "calibration": "calibration", "curves": "curves", "burst": "burst", "jobs": "jobs", "transports": "transports",
    **{plan: plan for plan in PLANS}, "profile": "profiles", "timeit": "timeit", "locust": "locust", "sweep": "sweep",
}  # fmt: skip
PERF_OUT = Path("doc/results/perf")


def say(line: str) -> None:
    """Progress lines, flushed at once (make and log files buffer otherwise)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per experiment."""
    cli = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = cli.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    settings_note = "Durations, loads and the results directory come from BENCH_* settings (QUICK=1: a smoke run)."
    every = sub.add_parser("all", help="every phase below, in order, then the report (make study)",
                           description="Every phase below in order, then the report. " + settings_note)  # fmt: skip
    every.add_argument("--resume", action="store_true",
                       help="skip each phase that already ran to the end with this code, these packages and settings "
                       "on this kind of machine (make study RESUME=1: a run that was stopped goes on) "
                       "(default: %(default)s)")  # fmt: skip
    sub.add_parser("calibration", help="the load generator against a fixed-delay server and a 1 s stall",
                   description=settings_note)  # fmt: skip
    curves = sub.add_parser("curves", help="open-loop latency-throughput curves of every variant of study.toml, "
                            "repeated", description=settings_note)  # fmt: skip
    burst = sub.add_parser("burst", help="150 users firing together every second (Locust users paced at 1 s), open "
                           "loop", description=settings_note)  # fmt: skip
    jobs = sub.add_parser("jobs", help="job mode under 3 x capacity: the predict route against job submissions and "
                          "the drain", description=settings_note)  # fmt: skip
    transports = sub.add_parser("transports", help="open-loop curves with scoring calling the models over JSON, OIP "
                                "REST and gRPC", description=settings_note)  # fmt: skip
    sub.add_parser("profile", help="pyinstrument and yappi profiles of the client and every service, both stacks",
                   description=settings_note)  # fmt: skip
    sub.add_parser("timeit", help="N = 1..K sequential calls, R repetitions, both stacks", description=settings_note)
    locust = sub.add_parser("locust", help="the Locust scenarios and the CPU-bound ramp, both stacks",
                            description=settings_note)  # fmt: skip
    locust.add_argument("--scenario", default="all", choices=["all", *SCENARIOS, "cpubound"],
                        help="one scenario, or all of them (default: %(default)s)")  # fmt: skip
    sweep = sub.add_parser("sweep", help="one step ramp per variant of benchmark/experiments/sweep.toml",
                           description=settings_note)  # fmt: skip
    sweep.add_argument("--variants", nargs="+", default=[], metavar="NAME",
                       help="only these variants of sweep.toml (default: every one)")  # fmt: skip
    sub.add_parser("report", help="rebuild report.md from the results already on disk", description=settings_note)
    answer = sub.add_parser(
        "answer", help="the answer: async against sync, capacity to 5 %% with 95 %% intervals (make answer)",
        description="Every variant's capacity searched to within 5 % (p99 <= 100 ms, <= 0.1 % failed, every answer "
        "checked), repeated with the variants it is compared with interleaved, and its CPU per request at a common "
        "rate; undecided headline comparisons get more repetitions up to a time cap. Writes summary.json, "
        "answer.md and the charts to var/results/<run>/ (--publish: to doc/results and the README's block). "
        + settings_note,
    )  # fmt: skip
    answer.add_argument("--bench", action="store_true",
                        help="the whole build ladder and the crossover map too (make bench) "
                        "(default: %(default)s)")  # fmt: skip
    answer.add_argument("--variants", nargs="+", default=[], metavar="NAME",
                        help="only these variants, e.g. reference-async reference-sync (default: the "
                        "manifest's)")  # fmt: skip
    answer.add_argument("--repetitions", type=int, default=None, metavar="N",
                        help="repetitions of every variant (default: BENCH_ANSWER_REPETITIONS)")  # fmt: skip
    answer.add_argument("--out", type=Path, default=None,
                        help="where the run writes (default: var/results/<time>-<code sha>)")  # fmt: skip
    answer.add_argument("--summarise", type=Path, default=None, metavar="RUN",
                        help="measure nothing: compute RUN's summary.json, answer.md and charts again from its "
                        "measurements, e.g. doc/results (default: %(default)s)")  # fmt: skip
    answer.add_argument("--publish", action="store_true",
                        help="also copy the run to doc/results and rewrite the README's results block "
                        "(default: %(default)s)")  # fmt: skip
    compare = sub.add_parser("compare", help="what changed between two runs, with intervals",
                             description="B / A for every variant both runs measured, capacity and CPU per request, "
                             "each with its 95 % interval and verdict.")  # fmt: skip
    compare.add_argument("run_a", type=Path, help="a run directory (or its summary.json)")
    compare.add_argument("run_b", type=Path, help="another run directory (or its summary.json)")
    perf = sub.add_parser("perf", help="each stack as make up starts it and its minimal twin: latency, capacity, CPU",
                          description="Each stack with default settings, and its minimal twin (the floor), under a "
                          "closed-loop ladder (wrk, else this suite's generator), every answer checked; writes "
                          "perf.md and perf.json.")  # fmt: skip
    perf.add_argument("--builds", nargs="+", choices=PERF_BUILDS, default=list(DEFAULT_PERF_BUILDS),
                      help="the project's stacks (full), their minimal twins, the stacks on Granian (the twins' "
                      "server, direct only) (default: %(default)s)")  # fmt: skip
    perf.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS),
                      help="stacks to measure, one after the other (default: %(default)s)")  # fmt: skip
    perf.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS),
                      help="through the edge, straight to the scoring server (default: %(default)s)")  # fmt: skip
    perf.add_argument("--ladder", type=int, nargs="+", default=list(LADDER),
                      help="connections of each step (default: %(default)s)")  # fmt: skip
    perf.add_argument("--step-s", type=float, default=10.0, help="seconds per step (default: %(default)s)")
    perf.add_argument("--memory-requests", type=int, default=100_000,
                      help="requests served before the last memory reading (default: %(default)s)")  # fmt: skip
    perf.add_argument("--out", type=Path, default=PERF_OUT, help="results directory (default: %(default)s)")
    serving = sub.add_parser("model-serving", help="the model-serving ladders of study.toml (issue 13), one plan",
                             description="One plan's ladders, as curves runs them. " + settings_note)  # fmt: skip
    serving.add_argument("--plan", choices=PLANS, default=PLANS[0], help="which plan (default: %(default)s)")
    for manifest_run in (curves, burst, jobs, transports, serving):
        manifest_run.add_argument(
            "--variants",
            nargs="+",
            default=[],
            metavar="NAME",
            help="run these variants of study.toml instead of the plan's (default: the plan's)",
        )
        manifest_run.add_argument("--repetitions", type=int, default=None, metavar="N",
                                  help="repetitions instead of the plan's (default: the plan's)")  # fmt: skip
    return cli


def choice_of(args: argparse.Namespace) -> Choice:
    """The variants and repetitions the command line chose (none: the manifest's plan)."""
    return Choice(tuple(getattr(args, "variants", ())), getattr(args, "repetitions", None))


def run_phases(settings: BenchSettings, phases: list[str], scenario: str, resume: bool = False,
               choice: Choice | None = None) -> Path:  # fmt: skip
    """Run the suite's phases with their fingerprints (marked when finished), then the report; return its path.
    ``choice``: the variants and repetitions of a single phase run from the command line."""
    root = settings.results
    for number, phase in enumerate(phases, 1):
        if resume and finished_here(root / PHASES[phase], **settings.model_dump()):
            say(f"phase {number}/{len(phases)} {phase}: already ran to the end with this code, skipped (--resume)")
            continue
        say(f"phase {number}/{len(phases)} {phase}")
        write_fingerprint(root / PHASES[phase], **settings.model_dump())
        if phase == "calibration":
            run_calibration(settings, root / "calibration", say=say)
        elif phase == "curves":
            run_curves(settings, root / "curves", say=say, choice=choice)
        elif phase == "burst":
            run_burst(settings, root / "burst", say=say, choice=choice)
        elif phase == "jobs":
            run_jobs(settings, root / "jobs", say=say, choice=choice)
        elif phase in ("transports", *PLANS):  # the same open-loop ladders, another plan of study.toml
            run_curves(settings, root / PHASES[phase], say=say, experiment=phase, choice=choice)
        elif phase == "profile":
            run_profiles(settings, root / "profiles", say=say)
        elif phase == "timeit":
            run_timeit(settings, root / "timeit", say=say)
        elif phase == "locust":
            run_locust_experiments(settings, scenario, say=say)
        elif phase == "sweep":
            run_sweep(settings, root / "sweep", say=say, names=tuple(choice.variants) if choice else ())
        mark_finished(root / PHASES[phase])
    return build_report(settings, say=say)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen experiment, then say where the results went."""
    args = parser().parse_args(argv)
    started = time.monotonic()
    if args.experiment == "compare":
        from benchmark.compare import main as compare_runs

        return compare_runs(args.run_a, args.run_b)
    if args.experiment == "answer":
        from benchmark.answer import run_answer_command

        return run_answer_command(args, say)
    if args.experiment == "perf":
        written = run_perf(args.stacks, args.paths, args.ladder, args.step_s, args.memory_requests, args.out, say,
                           tuple(args.builds))  # fmt: skip
    elif args.experiment == "model-serving":
        settings = load_settings()
        say(f"benchmark {args.plan} ({'quick' if settings.quick else 'full'}) -> {settings.results / args.plan}")
        written = run_model_serving(settings, args.plan, say, choice_of(args))
    else:
        settings = load_settings()
        say(f"benchmark {args.experiment} ({'quick' if settings.quick else 'full'}) -> {settings.results}")
        resume = getattr(args, "resume", False)
        # The run's fingerprint (`report` alone keeps the one of the run it reports on; a resumed run keeps its own).
        if args.experiment == "all" and not (resume and same_run(settings.results, **settings.model_dump())):
            write_fingerprint(settings.results, **settings.model_dump())
        phases = list(PHASES) if args.experiment == "all" else [p for p in PHASES if p == args.experiment]
        written = run_phases(settings, phases, getattr(args, "scenario", "all"), resume, choice_of(args))
    say(f"done in {time.monotonic() - started:.0f}s; results in {written.parent}/, see {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
