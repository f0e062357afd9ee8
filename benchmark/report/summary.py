"""The README's results section, written from the committed results by ``python -m benchmark report``.

The README quotes no figure by hand: the block between its two markers is this module's output for
``doc/results``, and a unit test fails when the block and the committed results disagree.
"""

from __future__ import annotations

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
    """The README's block: where the figures come from, capacity per variant, comparisons, the burst."""
    fp = results.fingerprint
    lines = [
        f"From one full `make bench` run of `{(fp.get('git_sha') or '?')[:12]}` taken {fp.get('taken_at', '?')[:10]} "
        f"on {fp.get('cpu_count')} cores ({fp.get('cpu_model')}), the load generator on the same cores. Every "
        "figure below is computed from [the committed results](doc/results/report.md); medians of the repetitions, "
        "[min–max] beside them.",
        "",
    ]
    found = openloop.curves(results.curves, results.curves_plan)
    if found:
        plan = results.curves_plan
        rate = openloop.common_rate(results.curves, results.curves_plan)
        rows = [[c.variant, _cell(c.capacity, c.lower_bound),
                 _cell(c.per_rate["stack_cpu_ms_per_request"].get(rate)) if rate else "–", c.about]
                for c in found]  # fmt: skip
        lines += [
            f"Open loop ({plan['pattern']} arrivals), capacity = highest offered rate with p99 ≤ "
            f"{plan['p99_limit_ms']:g} ms and ≤ {100 * plan['error_limit']:g}% failed answers "
            "(≥: the ladder ended first):",
            "",
            *table(["variant", "capacity req/s", f"stack CPU ms per request at {fmt(rate)} req/s", "what it is"], rows),
            "",
        ]
        for row in openloop.comparisons(results.curves_plan, found):
            a, b = row["first"], row["second"]
            judged = {True: "beyond the spread", False: "within the spread: not a measured difference",
                      None: "one repetition"}[row["beyond_spread"]]  # fmt: skip
            lines.append(f"- {a.variant} / {b.variant}: {ratio(a.capacity['median'], b.capacity['median'])} ({judged})")
        lines.append("")
    bursts = openloop.burst_rows(results)
    if bursts:
        plan = results.burst_plan
        lines += [f"The original study's traffic ({plan['users']} users firing together every "
                  f"{plan['period_s']:g} s, {plan['repetitions']} × {plan['duration_s']} s):", ""]  # fmt: skip
        lines += [f"- {r['variant']}: {r['shed']} of {r['requests']} shed (503), {r['degraded']} degraded, "
                  f"p99 {_cell(r['p99_ms'])} ms" for r in bursts]  # fmt: skip
        lines.append("")
    return lines


def render_block(results: Results) -> str:
    """The whole block, markers included."""
    return "\n".join([BEGIN, "", *summary_lines(results), END])


def current_block(readme: str) -> str | None:
    """The block the README holds now, or None when it has no markers."""
    if BEGIN not in readme or END not in readme:
        return None
    start = readme.index(BEGIN)
    return readme[start : readme.index(END, start) + len(END)]


def write_readme(readme: Path, results: Results) -> bool:
    """Replace the README's block with one from ``results``; False when the README has no markers."""
    text = readme.read_text()
    block = current_block(text)
    if block is None:
        return False
    readme.write_text(text.replace(block, render_block(results)))
    return True
