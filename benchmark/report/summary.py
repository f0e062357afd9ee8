"""The lab's results section (doc/study.md), written from the committed results by ``python -m benchmark report``.

The page quotes no figure by hand: the block between its two markers is this module's output for
``doc/results``, and a unit test fails when the block and the committed results disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.report import openloop
from benchmark.report.data import Results
from benchmark.report.prose import fmt, ratio, table

BEGIN = "<!-- results:begin: written by `python -m benchmark report` from doc/results; do not edit by hand -->"
END = "<!-- results:end -->"
COMMITTED = Path("doc/results")


def _cell(value: dict, lower_bound: bool = False) -> str:
    if not value or not value["n"]:
        return "–"
    shown = f"{'≥ ' if lower_bound else ''}{fmt(value['median'])}"
    return shown if value["n"] == 1 else f"{shown} [{fmt(value['min'])}–{fmt(value['max'])}]"


def summary_lines(results: Results) -> list[str]:
    """The page's block: where the figures come from, then each experiment that ran, computed from its results."""
    fp = results.fingerprint
    lines = [
        f"Measured on {fp.get('cpu_count')} cores ({fp.get('cpu_model')}), the load generator on the same cores. Every "
        "figure below is computed from [the committed results](results/report.md), each part from the run it "
        "names (the git commit and the day it was taken); medians of the repetitions, [min–max] beside them.",
        "",
        *_code_line(results),
    ]
    lines += _ladders(results, "curves", "Open loop, every variant of the study", results.curves, results.curves_plan)
    lines += _ladders(results, "transports", "Scoring to its models over JSON, the Open Inference Protocol's REST, "
                      "and gRPC", results.transports, results.transports_plan)  # fmt: skip
    for plan, (ladders, recorded) in results.model_serving.items():
        lines += _ladders(results, plan, MODEL_SERVING_HEADLINES[plan], ladders, recorded)
    bursts = openloop.burst_rows(results)
    if bursts:
        plan = results.burst_plan
        lines += [f"**The original study's traffic** ({_provenance(results, 'burst')}: {plan['users']} users "
                  f"firing together every {plan['period_s']:g} s, {plan['repetitions']} × {plan['duration_s']} s):",
                  ""]  # fmt: skip
        lines += [f"- {r['variant']}: {r['shed']} of {r['requests']} shed (503), {r['degraded']} degraded, "
                  f"p99 {_cell(r['p99_ms'])} ms" for r in bursts]  # fmt: skip
        lines.append("")
    return lines + _jobs(results)


# The README's name for each model-serving plan's part.
MODEL_SERVING_HEADLINES = {
    "model_onnx": "A real CPU model that releases the GIL (ONNX): threads, the event loop inline, and offloaded",
    "model_accelerator": "One accelerator slot per model worker, against batch size and wait bound",
    "model_batching_onnx": "Micro-batching with the real CPU model (ONNX)",
}


def _phase_fingerprint(results: Results, directory: str) -> dict:
    path = results.root / directory / "fingerprint.json"
    return json.loads(path.read_text()) if path.exists() else results.fingerprint


def _code(fp: dict) -> str:
    """The code a phase measured: its code sha (results and prose committed later do not change it), else its commit."""
    return fp.get("code_sha") or fp.get("git_sha") or "?"


def _short(code: str) -> str:
    """A code sha cut to 12 characters, keeping the mark of uncommitted changes."""
    return code[:12] + ("-dirty" if code.endswith("-dirty") else "")


def _provenance(results: Results, directory: str) -> str:
    """The experiment's command, code and day, from its own fingerprint."""
    fp = _phase_fingerprint(results, directory)
    command = f"model-serving --plan {directory}" if directory in MODEL_SERVING_HEADLINES else directory
    return f"`python -m benchmark {command}`, `{_short(_code(fp))}`, {fp.get('taken_at', '?')[:10]}"


def _code_line(results: Results) -> list[str]:
    """Whether every phase on disk measured the same code (one run of `make study`, resumed or not) or which ones."""
    written = {p.parent.name: json.loads(p.read_text()) for p in sorted(results.root.glob("*/fingerprint.json"))}
    if not written:
        return []
    codes = {name: _code(fp) for name, fp in written.items()}
    # Phases whose fingerprint can say so (it has a code sha) but does not: stopped before the end.
    unfinished = [name for name, fp in written.items() if "code_sha" in fp and "finished_at" not in fp]
    dirty = [name for name, code in codes.items() if code.endswith("-dirty")]
    if len(set(codes.values())) == 1 and not unfinished and not dirty:
        first = min(fp.get("taken_at", "?") for fp in written.values())
        last = max(fp.get("finished_at", "?") for fp in written.values())
        code = _short(next(iter(codes.values())))
        return [f"Every part below is from one run of the same code (`{code}`, the last commit that changed anything "
                f"but `doc/` and the README), {first[:16]} to {last[:16]} UTC.", ""]  # fmt: skip
    by_code: dict[str, list[str]] = {}
    for name, code in codes.items():
        by_code.setdefault(_short(code), []).append(name)
    parts = "; ".join(f"`{code}`: {', '.join(names)}" for code, names in by_code.items())
    lines = [f"The parts below come from {len(by_code)} commit(s) of the code, not one run: {parts}."]
    if dirty:
        lines[0] += f" Measured with uncommitted code changes (`-dirty`): {', '.join(dirty)}."
    if unfinished:
        lines[0] += f" Not marked as run to the end: {', '.join(unfinished)}."
    return [*lines, ""]


def _ladders(results: Results, directory: str, title: str, ladders: dict, plan: dict | None) -> list[str]:
    """One run of open-loop ladders: capacity and CPU per request of each variant, then the plan's comparisons."""
    found = openloop.curves(ladders, plan)
    if not found:
        return []
    rate = openloop.common_rate(ladders, plan)
    rows = [[c.variant, _cell(c.capacity, c.lower_bound), _cell(c.peak),
             _cell(c.per_rate["stack_cpu_ms_per_request"].get(rate)) if rate else "–", c.about]
            for c in found]  # fmt: skip
    lines = [
        f"**{title}** ({_provenance(results, directory)}; {plan['pattern']} arrivals, {plan['step_s']:g} s steps; "
        f"capacity = highest offered rate with p99 ≤ {plan['p99_limit_ms']:g} ms and ≤ "
        f"{100 * plan['error_limit']:g}% failed answers, ≥: the ladder ended first; peak = the most full answers per "
        "second a step delivered, whatever its latency):",
        "",
        *table(
            [
                "variant",
                "capacity req/s",
                "peak answers/s",
                f"stack CPU ms per request at {fmt(rate)} req/s",
                "what it is",
            ],
            rows,
        ),
        "",
    ]
    judged = {True: "beyond the spread", False: "within the spread: not a measured difference",
              None: "one repetition"}  # fmt: skip
    for row in openloop.comparisons(plan, found, rate):
        a, b = row["first"], row["second"]
        capacity = (
            f"capacity {ratio(a.capacity['median'], b.capacity['median'])} ({judged[row['beyond_spread']]})"
            if row["ratio"] is not None
            else "no capacity ratio (a variant never met the latency rule)"
        )
        peak = (f"peak answers/s {ratio(a.peak['median'], b.peak['median'])} ({judged[row['peak_beyond_spread']]})"
                if row["peak_ratio"] is not None else "")  # fmt: skip
        cpu = (f"stack CPU per request {row['cpu_ratio']:.2f}× ({judged[row['cpu_beyond_spread']]})"
               if row["cpu_ratio"] is not None else "")  # fmt: skip
        lines.append(f"- {a.variant} / {b.variant}: " + "; ".join(part for part in (capacity, peak, cpu) if part))
    return [*lines, ""]


def _jobs(results: Results) -> list[str]:
    """Job mode under overload, one line per stack."""
    if not results.jobs:
        return []
    lines = [f"**Job mode under overload** ({_provenance(results, 'jobs')}):", ""]
    for name, r in results.jobs.items():
        predict, jobs = r["predict"], r["jobs"]
        stored = sum(jobs["outcomes"].values())
        lines.append(
            f"- {name}: offered {fmt(r['offered_rps'])} req/s ({fmt(r['overload'])} × its capacity "
            f"{fmt(r['capacity_rps'])}) for {fmt(r['duration_s'])} s. The predict route: "
            f"{predict['outcomes'].get('ok', 0)} answered in full of {predict['requests']} "
            f"({predict['outcomes'].get('degraded', 0)} degraded, {predict['errors']} failed), p99 "
            f"{fmt(predict['p99_ms'])} ms. Job mode: {r['accepted']} of {r['submissions']['requests']} submissions "
            f"answered 202; {stored} jobs stored ({stored - r['accepted']} more than the 202s: submissions that "
            f"timed out or failed after reaching Redis), {jobs['outcomes'].get('ok', 0)} of them answered in full; "
            "submission to result p50 "
            f"{fmt(jobs['latency']['p50_ms'])} ms / p99 {fmt(jobs['latency']['p99_ms'])} ms, "
            f"{fmt(r['throughput_jobs_per_s'])} jobs/s, backlog drained {fmt(r['drain_s'])} s after the last "
            f"submission, {fmt(r['cpu_ms_per_job'])} ms of CPU per job."
        )
    return [*lines, ""]


def render_block(results: Results) -> str:
    """The whole block, markers included."""
    return "\n".join([BEGIN, "", *summary_lines(results), END])


STUDY_PAGE = Path("doc/study.md")


def current_block(readme: str) -> str | None:
    """The block the page holds now, or None when it has no markers."""
    if BEGIN not in readme or END not in readme:
        return None
    start = readme.index(BEGIN)
    return readme[start : readme.index(END, start) + len(END)]


def write_readme(readme: Path, results: Results) -> bool:
    """Replace the page's block with one from ``results``; False when the page has no markers."""
    text = readme.read_text()
    block = current_block(text)
    if block is None:
        return False
    readme.write_text(text.replace(block, render_block(results)))
    return True
