"""Bursts: ``users`` requests fired together every second, as Locust users paced at one task a second do.

Locust users paced at one task a second and started together fire together, so the stack sees a burst of
``users`` simultaneous requests each second and nothing between. The generator makes that shape open-loop
(``lockstep`` arrivals), so a slow answer never delays the next burst. Per variant and repetition:
shed answers (503), degraded answers (a model left out), other failures, latency and CPU. Raw results:
``burst/<variant>_rep<k>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.experiments.curves import step_record
from benchmark.experiments.manifest import Choice, load_manifest
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.settings import BenchSettings
from benchmark.stacks.variants import running_variant


def run_burst(settings: BenchSettings, out: Path, say=print, choice: Choice | None = None) -> list[Path]:
    """Every repetition of every variant (of the plan, or of ``choice``) under lockstep bursts; one raw file per
    variant and repetition."""
    plan = load_manifest().plan("burst", settings.quick, choice)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan | {"variants": [v.name for v in plan["variants"]]}, indent=1))
    users, period = plan["users"], plan["period_s"]
    burst = Plan(duration_s=plan["duration_s"], warmup_s=plan["warmup_s"], rate=users / period, pattern="lockstep",
                 period_s=period, timeout_s=plan["timeout_s"], seed=settings.seed)  # fmt: skip
    written = []
    for rep in range(1, plan["repetitions"] + 1):
        for variant in plan["variants"]:
            say(f"  burst: {variant.name}, {users} users every {period:g} s, repetition {rep}/{plan['repetitions']}")
            with running_variant(variant, say=say) as running:
                result = run_generator(running.predict_url(), burst, settings.entities,
                                       stack_pgids=running.process_groups())  # fmt: skip
            step = step_record(users / period, result)
            outcomes = step["outcomes"]
            say(f"    {variant.name:14} ok {outcomes.get('ok', 0)}  503 {outcomes.get('503', 0)}  degraded "
                f"{outcomes.get('degraded', 0)}  other failures {step['errors'] - outcomes.get('503', 0)}  "
                f"p50 {step['p50_ms']} p99 {step['p99_ms']} max {step['max_ms']} ms  "
                f"CPU {step['stack_cpu_ms_per_request']} ms/req")  # fmt: skip
            path = out / f"{variant.name}_rep{rep}.json"
            path.write_text(json.dumps({"variant": variant.name, "about": variant.about, "stack": variant.stack,
                                        "path": variant.path, "users": users, "period_s": period, "repetition": rep,
                                        "result": step}, indent=1))  # fmt: skip
            written.append(path)
    return written
