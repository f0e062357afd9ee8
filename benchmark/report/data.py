"""Reading a results directory: every file the experiments wrote, parsed, nothing computed."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.experiments.model_serving import PLANS as MODEL_SERVING_PLANS
from benchmark.experiments.scenarios import SCENARIOS, STACKS, result_name


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


@dataclass
class Results:
    """One results directory, parsed: results by scenario and stack, the sweep, timeit and profiles."""

    root: Path
    fingerprint: dict
    locust: dict[str, dict[str, dict]]  # scenario -> stack -> result, through the edge
    direct: dict[str, dict[str, dict]]  # the same, straight to the scoring server (response_time and load)
    cpubound: dict[str, dict]  # stack -> result
    sweep: list[dict]
    timeit: list[dict]  # rows of timeit.csv: stack, n, repetition, seconds
    profiles: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (stack, service) -> top functions
    curves: dict[str, list[dict]] = field(default_factory=dict)  # variant -> one ladder per repetition
    curves_plan: dict | None = None
    transports: dict[str, list[dict]] = field(default_factory=dict)  # the same, scoring to models per transport
    transports_plan: dict | None = None
    model_serving: dict[str, tuple[dict[str, list[dict]], dict | None]] = field(default_factory=dict)  # plan -> run
    burst: dict[str, list[dict]] = field(default_factory=dict)  # variant -> one run per repetition
    burst_plan: dict | None = None
    calibration: dict | None = None
    jobs: dict[str, dict] = field(default_factory=dict)  # variant -> job mode under overload

    @property
    def cores(self) -> int:
        """The cores of the machine the results were measured on."""
        return self.fingerprint["cpu_count"]

    @property
    def services(self) -> dict:
        """The settings the services ran with (model cost, fan-out, worker layout)."""
        if "services" not in self.fingerprint:
            raise ValueError(
                f"{self.root}: these results predate the fingerprint's record of the services' settings, which the "
                "report's figures are computed from; rerun the experiments (make study)"
            )
        return self.fingerprint["services"]


def load_fingerprint(root: Path) -> dict:
    """The run's fingerprint, or the first phase's when only single phases were run."""
    for path in [root / "fingerprint.json", *sorted(root.glob("*/fingerprint.json"))]:
        if (found := _load(path)) is not None:
            return found
    raise FileNotFoundError(f"no fingerprint.json under {root}: run an experiment first")


def load_timeit(path: Path) -> list[dict]:
    """The timings of timeit.csv, typed."""
    if not path.exists():
        return []
    with path.open() as source:
        return [
            {"stack": r["stack"], "n": int(r["n"]), "repetition": int(r["repetition"]), "seconds": float(r["seconds"])}
            for r in csv.DictReader(source)
        ]


def top_functions(profiles: Path, stack: str, service: str, count: int) -> list[dict]:
    """The functions with the most own CPU time in that service's yappi burst profile."""
    data = _load(profiles / f"{stack}-{service}-yappi-burst.json")
    return data["functions"][:count] if data else []


def load_repetitions(directory: Path) -> tuple[dict[str, list[dict]], dict | None]:
    """``<variant>_rep<k>.json`` files by variant (in the plan's order, repetitions in order), and the plan."""
    plan = _load(directory / "plan.json")
    runs: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*_rep*.json")):
        run = json.loads(path.read_text())
        runs.setdefault(run["variant"], []).append(run)
    order = plan["variants"] if plan else sorted(runs)
    return {name: sorted(runs[name], key=lambda r: r["repetition"]) for name in order if name in runs}, plan


def load_results(root: Path, profiled: tuple[str, ...] = ("scoring", "model_a", "client"), top: int = 6) -> Results:
    """Everything under ``root`` that the report reads."""
    locust = {
        scenario: {stack: r for stack in STACKS if (r := _load(root / "locust" / f"{scenario}_{stack}.json"))}
        for scenario in SCENARIOS
    }
    direct = {
        scenario: {stack: r for stack in STACKS
                   if (r := _load(root / "locust" / f"{result_name(scenario, stack, 'direct')}.json"))}
        for scenario in SCENARIOS
    }  # fmt: skip
    profiles = root / "profiles"
    curves, curves_plan = load_repetitions(root / "curves")
    burst, burst_plan = load_repetitions(root / "burst")
    transports, transports_plan = load_repetitions(root / "transports")
    model_serving = {plan: load_repetitions(root / plan) for plan in MODEL_SERVING_PLANS}
    return Results(
        curves=curves,
        curves_plan=curves_plan,
        transports=transports,
        transports_plan=transports_plan,
        model_serving=model_serving,
        burst=burst,
        burst_plan=burst_plan,
        calibration=_load(root / "calibration" / "calibration.json"),
        jobs={
            p.stem: json.loads(p.read_text())
            for p in sorted((root / "jobs").glob("*.json"))
            if p.name != "fingerprint.json"
        },
        root=root,
        fingerprint=load_fingerprint(root),
        locust=locust,
        direct=direct,
        cpubound={stack: r for stack in STACKS if (r := _load(root / "cpubound" / f"cpubound_{stack}.json"))},
        sweep=[json.loads(p.read_text()) for p in sorted((root / "sweep").glob("sweep_*.json"))],
        timeit=load_timeit(root / "timeit" / "timeit.csv"),
        profiles={
            (stack, service): found
            for stack in STACKS
            for service in profiled
            if (found := top_functions(profiles, stack, service, top))
        },
    )
