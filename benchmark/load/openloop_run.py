"""Run the open-loop generator in its own process (its own GIL, pinnable to a core) and read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmark.load.openloop import Plan


def generator_argv(url: str, plan: Plan, entities: int = 10_000, cpu: int | None = None,
                   stack_pgids: set[int] | frozenset[int] = frozenset()) -> list[str]:  # fmt: skip
    """The command line running ``plan`` against ``url``."""
    argv = [sys.executable, "-m", "benchmark.load.openloop", url, "--duration-s", str(plan.duration_s),
            "--warmup-s", str(plan.warmup_s), "--timeout-s", str(plan.timeout_s), "--max-connections",
            str(plan.max_connections), "--entities", str(entities), "--seed", str(plan.seed), "--quiet"]  # fmt: skip
    if plan.closed:
        argv += ["--closed", str(plan.closed_connections)]
    else:
        argv += ["--rate", str(plan.rate), "--pattern", plan.pattern, "--period-s", str(plan.period_s)]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    if stack_pgids:
        argv += ["--stack-pgids", ",".join(map(str, sorted(stack_pgids)))]
    return argv


def run_generator(url: str, plan: Plan, entities: int = 10_000, cpu: int | None = None,
                  stack_pgids: set[int] | frozenset[int] = frozenset(),
                  env: dict[str, str] | None = None) -> dict:  # fmt: skip
    """One run; its result (raises if the generator fails or overruns its bounded time). With ``stack_pgids``, the
    result holds the CPU those process groups used per recorded request; ``env`` (the variant's ``MODEL_*``
    settings) tells it which models' answers to expect."""
    bound = plan.warmup_s + plan.duration_s + plan.timeout_s + 60  # start-up, schedule, last answers, margin
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        argv = [*generator_argv(url, plan, entities, cpu, stack_pgids), "--out", str(out)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=bound, env=os.environ | (env or {}))
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
        return json.loads(out.read_text())
