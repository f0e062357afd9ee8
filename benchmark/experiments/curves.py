"""Latency-throughput curves: each variant under an open-loop ladder of offered rates, repeated.

For every repetition, every variant of the manifest's ``[curves]`` plan is started alone, warmed up, and
offered each rate of the ladder for ``step_s`` seconds (after ``warmup_s`` unrecorded) by the open-loop
generator; every answer is checked. The ladder stops once ``stop_after_failures`` steps in a row fail
(p99 over the limit or too many failed answers): past saturation, not far beyond it. Raw results:
``curves/<variant>_rep<k>.json``; the report summarises them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmark.analysis.curves import passes
from benchmark.experiments.manifest import Choice, load_manifest
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.settings import BenchSettings
from benchmark.stacks.variants import Variant, running_variant

DRAIN_S = 1.0  # pause between steps: what a failing step left queued is answered or shed before the next
STEP_KEYS = ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms", "mean_ms")


def step_record(rate: float, result: dict) -> dict:
    """The figures of one step kept in the raw results (the histogram too, so that repetitions can be merged)."""
    return {
        "rate": rate,
        "ok_rps": result["ok_rps"],
        **{key: result["latency"][key] for key in STEP_KEYS},
        "requests": result["requests"],
        "errors": result["errors"],
        "error_rate": result["error_rate"],
        "outcomes": result["outcomes"],
        "stack_cpu_ms_per_request": result["stack_cpu_ms_per_request"],
        "client_cpu_ms_per_request": result["client_cpu_ms_per_request"],
        "send_lag_p99_ms": result["send_lag"]["p99_ms"],
        "connections_opened": result["connections_opened"],
        "histogram": result["histogram"],
    }


def model_env(variant: Variant) -> dict[str, str]:
    """The variant's model settings, which decide the answers the generator must expect (``MODEL_KIND=onnx``)."""
    return {k: v for k, v in variant.env.items() if k.startswith("MODEL_")}


def run_ladder(variant: Variant, plan: dict, settings: BenchSettings, say) -> list[dict]:
    """Start the variant, warm it up, climb the ladder until it fails ``stop_after_failures`` times in a row."""
    steps, failing = [], 0
    with running_variant(variant, say=say) as running:
        url, groups = running.predict_url(), running.process_groups()
        run_generator(
            url,
            Plan(duration_s=2, rate=plan["rates"][0], timeout_s=plan["timeout_s"]),
            settings.entities,
            env=model_env(variant),
        )  # fmt: skip  (warm-up: connections, pools, caches)
        for rate in plan["rates"]:
            result = run_generator(url, Plan(duration_s=plan["step_s"], warmup_s=plan["warmup_s"], rate=rate,
                                             pattern=plan["pattern"], timeout_s=plan["timeout_s"], seed=settings.seed),
                                   settings.entities, stack_pgids=groups, env=model_env(variant))  # fmt: skip
            step = step_record(rate, result)
            steps.append(step)
            ok = passes(step, plan["p99_limit_ms"], plan["error_limit"])
            say(f"    {variant.name:14} {rate:6g} req/s offered: {step['ok_rps']:7.1f} ok/s  p50 {step['p50_ms']:7.1f}"
                f"  p99 {step['p99_ms']:8.1f}  p99.9 {step['p99_9_ms']:8.1f} ms  errors {step['errors']:5d}  "
                f"CPU {step['stack_cpu_ms_per_request']} ms/req (+{step['client_cpu_ms_per_request']} generator)"
                f"{'' if ok else '  FAIL'}")  # fmt: skip
            failing = 0 if ok else failing + 1
            if failing >= plan["stop_after_failures"]:
                break
            time.sleep(DRAIN_S)
    return steps


def run_curves(settings: BenchSettings, out: Path, say=print, experiment: str = "curves",
               choice: Choice | None = None) -> list[Path]:  # fmt: skip
    """Every repetition of every variant's ladder of the manifest's ``experiment`` plan (``[curves]``, ``[transports]``
    or another built the same way), or of the variants and repetitions ``choice`` gives; one raw file per variant and
    repetition."""
    plan = load_manifest().plan(experiment, settings.quick, choice)
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(plan | {"variants": [v.name for v in plan["variants"]]}, indent=1))
    written = []
    for rep in range(1, plan["repetitions"] + 1):
        for variant in plan["variants"]:
            say(f"  {experiment}: {variant.name} ({variant.about}), repetition {rep}/{plan['repetitions']}")
            steps = run_ladder(variant, plan, settings, say)
            path = out / f"{variant.name}_rep{rep}.json"
            path.write_text(json.dumps({"variant": variant.name, "about": variant.about, "stack": variant.stack,
                                        "path": variant.path, "kind": variant.kind, "env": variant.env,
                                        "repetition": rep, "steps": steps}, indent=1))  # fmt: skip
            written.append(path)
    return written
