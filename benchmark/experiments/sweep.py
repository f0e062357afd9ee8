"""The configuration sweep: every variant of the manifest gets a step ramp; capacity and tail latency per variant."""

from __future__ import annotations

import tomllib
from pathlib import Path

from benchmark.experiments.scenarios import run_ramp
from benchmark.settings import BenchSettings
from server_variants import MeinheldMissing, worker_class


def load_manifest(path: Path, quick: bool, names: tuple[str, ...] = ()) -> list[dict]:
    """The variants to run: those named, else every one (only those marked ``quick`` in quick mode)."""
    variants = tomllib.loads(path.read_text())["variant"]
    if names:
        unknown = sorted(set(names) - {v["name"] for v in variants})
        if unknown:
            raise ValueError(f"{path} defines no variant {', '.join(unknown)}")
        return [v for v in variants if v["name"] in names]
    return [v for v in variants if v.get("quick")] if quick else variants


def unavailable(variant: dict) -> str | None:
    """Why a variant cannot run here (an opt-in server that is not installed), or None."""
    chosen = variant.get("env", {}).get("STACK_SYNC_WORKER_CLASS")
    if chosen:
        try:
            worker_class(chosen)
        except MeinheldMissing as exc:
            return str(exc)
    return None


def run_sweep(settings: BenchSettings, out: Path, say=print, names: tuple[str, ...] = ()) -> list[dict]:
    """Run every variant (or those named), one stack at a time, and return their results (also saved as
    sweep_<variant>.json)."""
    variants = load_manifest(settings.sweep_manifest, settings.quick, names)
    results = []
    for number, variant in enumerate(variants, 1):
        if reason := unavailable(variant):
            say(f"sweep {number}/{len(variants)}: {variant['name']} SKIPPED: {reason}")
            results.append({"variant": variant["name"], "skipped": reason})
            continue
        say(f"sweep {number}/{len(variants)}: {variant['name']}")
        result = run_ramp(variant["stack"], f"sweep_{variant['name']}", settings, out,
                          {k: str(v) for k, v in variant.get("env", {}).items()}, settings.sweep_s,
                          variant.get("step_users", settings.sweep_step_users), variant.get("p95_limit_ms"),
                          say=say)  # fmt: skip
        results.append(result | {"variant": variant["name"]})
    return results
