"""The model-serving experiments (issue 13): open-loop ladders of study.toml's model plans, like ``curves``."""

from __future__ import annotations

from pathlib import Path

from benchmark.experiments.curves import run_curves
from benchmark.experiments.manifest import Choice
from benchmark.settings import BenchSettings
from benchmark.stacks.fingerprint import write_fingerprint

# study.toml's plans: the GIL-releasing ONNX model; one accelerator slot against batch size and wait bound;
# batching with the ONNX model.
PLANS = ("model_onnx", "model_accelerator", "model_batching_onnx")


def run_model_serving(settings: BenchSettings, plan: str, say=print, choice: Choice | None = None) -> Path:
    """Run one plan's ladders (or those of ``choice``) into ``<results>/<plan>/``; return its ``plan.json``."""
    out = settings.results / plan
    write_fingerprint(out, **settings.model_dump())
    run_curves(settings, out, say=say, experiment=plan, choice=choice)
    return out / "plan.json"
