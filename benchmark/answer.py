"""``python -m benchmark answer``: choose the variants, run them, write the run's pages, and publish on request."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmark.analysis.answer_summary import measurements_of
from benchmark.experiments.answer import (
    Group,
    crossover_groups,
    ladder_steps,
    manifest,
    run_answer,
    rung_groups,
    summary_of,
    tracing_groups,
)
from benchmark.load.otlp_sink import endpoint, otlp_sink
from benchmark.report.answer_page import answer_page, crossover_chart, headline_chart, readme_block, terminal_table
from benchmark.settings import load_settings
from benchmark.stacks.fingerprint import code_sha

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "doc" / "results"
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- answer:begin -->\n).*?(\n<!-- answer:end -->)", re.S)


def groups_for(bench: bool, variants: list[str], otlp_endpoint: str = "") -> tuple[list[Group], list[tuple[str, str]]]:
    """The groups to measure and the ladder's steps: the headline rungs (make answer) or the whole ladder, the
    crossover map and tracing on against off (make bench); ``variants`` narrows them to those names."""
    plan = manifest()
    rungs = plan["bench"]["rungs"] if bench else plan["answer"]["rungs"]
    groups = rung_groups(rungs)
    if bench:
        capped = plan["bench"].get("map_repetitions")
        groups += [
            replace(g, repetitions=capped) for g in crossover_groups(plan["crossover"]) + tracing_groups(otlp_endpoint)
        ]
    steps = ladder_steps(plan["bench"]["rungs"]) if bench else []
    if variants:
        known = {v.name for g in groups for v in g.variants}
        if unknown := sorted(set(variants) - known):
            raise SystemExit(f"unknown variants: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        groups = [replace(g, variants=tuple(v for v in g.variants if v.name in variants),
                          pairs=tuple(p for p in g.pairs if set(p) <= set(variants))) for g in groups]  # fmt: skip
        groups = [g for g in groups if g.variants]
    return groups, steps


def write_pages(out: Path, summary: dict[str, Any], link_prefix: str = "") -> dict[str, str]:
    """``answer.md`` and the charts of a run, in its directory; the charts' paths relative to it."""
    charts = {}
    if headline_chart(out / "probes.jsonl", summary, out / "figures" / "headline.png"):
        charts["p99 against offered rate, async against sync"] = f"{link_prefix}figures/headline.png"
    if crossover_chart(summary, out / "figures" / "crossover.png"):
        charts["the crossover map"] = f"{link_prefix}figures/crossover.png"
    (out / "answer.md").write_text(answer_page(summary, charts))
    return charts


def publish(out: Path, summary: dict[str, Any], say: Callable[[str], None]) -> None:
    """Copy the run to doc/results and rewrite the README's results block from its summary."""
    if out.resolve() != PUBLISHED.resolve():  # the published run summarised again is already in place
        PUBLISHED.mkdir(parents=True, exist_ok=True)
        for name in ("summary.json", "answer.md", "probes.jsonl"):
            shutil.copy2(out / name, PUBLISHED / name)
        (PUBLISHED / "figures").mkdir(exist_ok=True)
        for chart in (out / "figures").glob("*.png"):
            shutil.copy2(chart, PUBLISHED / "figures" / chart.name)
    chart = "doc/results/figures/headline.png" if (out / "figures" / "headline.png").exists() else None
    text = README.read_text()
    if not BLOCK.search(text):
        raise SystemExit("README.md has no <!-- answer:begin --> ... <!-- answer:end --> block to rewrite")
    README.write_text(BLOCK.sub(lambda m: m.group(1) + readme_block(summary, chart) + m.group(2), text))
    say(f"published to {PUBLISHED.relative_to(ROOT)}/ and the README's results block")


def summarise_again(run: Path) -> dict[str, Any]:
    """A run's summary computed again from its measurements by this code's analysis (its fingerprint, settings and
    completeness kept; ``summarised_by`` names the code that computed it)."""
    path = run / "summary.json"
    if not path.exists():
        raise SystemExit(f"{path}: no summary.json to summarise again (a run of make answer or make bench writes one)")
    old = json.loads(path.read_text())
    measurements = measurements_of(old)
    names = {m.variant for m in measurements}
    bench = not names <= {v.name for g in groups_for(False, [])[0] for v in g.variants}  # make bench's run
    groups, steps = groups_for(bench, sorted(names))
    summary = summary_of(measurements, groups, steps, old["fingerprint"], old["settings"])
    summary["complete"] = old.get("complete", True)
    summary["summarised_by"] = code_sha()
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def run_answer_command(args: argparse.Namespace, say: Callable[[str], None]) -> int:
    """Run the answer as the command line chose it (or summarise a run again); end with the table."""
    if args.summarise:
        summary = summarise_again(args.summarise)
        write_pages(args.summarise, summary)
        print("\n" + terminal_table(summary) + "\n", flush=True)
        if args.publish and summary["complete"]:
            publish(args.summarise, summary, say)
        return 0
    settings = load_settings()
    if args.repetitions:
        settings = settings.model_copy(update={"answer_repetitions": args.repetitions})
    if args.bench:
        settings = settings.model_copy(update={"answer_time_cap_s": settings.answer_bench_time_cap_s})
    out = args.out or ROOT / "var" / "results" / f"{time.strftime('%Y-%m-%dT%H%M')}-{code_sha()[:7]}"
    with otlp_sink() as sink:  # where the traced variants export (make bench)
        groups, steps = groups_for(args.bench, args.variants, endpoint(sink))
        say(f"the answer{' with the ladder, the crossover map and tracing' if args.bench else ''}: "
            f"{sum(len(g.variants) for g in groups)} variants -> {out}")  # fmt: skip
        summary = run_answer(out, settings, groups, steps, say)
    write_pages(out, summary)
    print("\n" + terminal_table(summary) + "\n", flush=True)
    if not summary["complete"]:
        say(f"interrupted: what was measured is in {out}{' (not published)' if args.publish else ''}")
        return 130
    if args.publish:
        publish(out, summary, say)
    return 0
