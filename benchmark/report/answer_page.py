"""The answer in words, tables and charts, from ``summary.json`` alone: the README's block, ``answer.md``, and the
table the terminal shows at the end of a run."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RUNG_WORDS = {"reference": "the reference", "people": "what people write", "bare": "the bare framework",
              "minimal": "the minimal twins"}  # fmt: skip
RUNG_ORDER = ("reference", "people", "bare", "minimal")


def _comparison(summary: dict[str, Any], a: str, b: str, metric: str) -> dict[str, Any] | None:
    return next((c for c in summary["comparisons"] if (c["a"], c["b"], c["metric"]) == (a, b, metric)), None)


def _span(c: dict[str, Any]) -> str:
    if c["ratio"] is None:  # one side met the SLO at no rate: a bound, not a ratio
        if c["ci_low"] is not None:
            return f"more than {c['ci_low']:.0f}×"
        if c["ci_high"] is not None:
            return f"less than {c['ci_high']:.2g}×"
        return "–"
    return f"{c['ratio']:.2f}× [{c['ci_low']:.2f}–{c['ci_high']:.2f}]"


def _claim(c: dict[str, Any]) -> str:
    """A ratio as its verdict allows it to be said."""
    if c["verdict"] == "difference":
        return _span(c)
    if c["verdict"] == "no_difference":
        return f"no different (within 10 %: {_span(c)})"
    return f"undecided after {c['n']} repetitions ({_span(c)})"


def sentences(summary: dict[str, Any]) -> list[str]:
    """The answer in at most three sentences, each figure with its 95 % interval and the verdict it earns."""
    slo = summary["slo"]
    out = []
    capacity = _comparison(summary, "reference-async", "reference-sync", "capacity_rps")
    cpu = _comparison(summary, "reference-async", "reference-sync", "cpu_ms_per_request")
    if capacity:
        subject = "the async reference serves" if capacity["verdict"] == "difference" else "async against sync:"
        cpu_part = ""
        if cpu and cpu["verdict"] == "difference":
            cpu_part = f", at {_span(cpu)} the sync stack's CPU per request"
        elif cpu:
            cpu_part = f"; its CPU per request against the sync stack's is {_claim(cpu)}"
        limits = f"p99 ≤ {slo['p99_ms']:g} ms, ≤ {slo['failed_at_most'] * 100:g} % failed, every answer checked"
        cores = summary["fingerprint"].get("cpu_count", "?")
        out.append(f"On {cores} cores, {subject} {_claim(capacity)} the sync reference's capacity ({limits})"
                   f"{cpu_part}.")  # fmt: skip
    others = []
    for rung in ("people", "minimal", "bare"):
        c = _comparison(summary, f"{rung}-async", f"{rung}-sync", "capacity_rps")
        if c:
            others.append(f"for {RUNG_WORDS[rung]}, " + (c["words"] if c["ratio"] is None else _claim(c)))
    if others:
        out.append("Async against sync in capacity: " + "; ".join(others) + ".")
    if rule := crossover_rule(summary):
        out.append(rule)
    return out[:3]


def crossover_rule(summary: dict[str, Any]) -> str | None:
    """The crossover map's reading at fan-out 2: the cells where async wins, where sync wins, and those undecided."""
    cells = [c for c in summary.get("crossover", []) if c["params"].get("fanout") == 2]
    if not cells:
        return None
    wins = [c for c in cells if _async_wins(c)]
    loses = [c for c in cells if c["verdict"] == "difference" and not _async_wins(c)]
    rest = [c for c in cells if c not in wins and c not in loses]
    parts = [f"async wins in {len(wins)} of {len(cells)} cells of the crossover map"
             + (f" ({_cells(wins)})" if wins else "")]  # fmt: skip
    if loses:
        parts.append(f"sync in {len(loses)} ({_cells(loses)})")
    if rest:
        parts.append(f"{len(rest)} are undecided or no different after {max(c['n'] for c in rest)} repetitions")
    return "At fan-out 2, " + "; ".join(parts) + "."


def _async_wins(c: dict[str, Any]) -> bool:
    if c["verdict"] != "difference":
        return False
    return c["ratio"] > 1 if c["ratio"] is not None else c["ci_low"] is not None


def _cells(cells: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"wait {c['params']['wait_ms']:g} ms and CPU {c['params']['cpu_ms']:g} ms: {_span(c)}"
                     for c in cells)  # fmt: skip


def _est(value: dict[str, Any] | None, digits: int = 0) -> str:
    if not value:
        return "–"
    if value["n"] < 2:
        return f"{value['median']:.{digits}f}"
    return f"{value['median']:.{digits}f} [{value['ci_low']:.{digits}f}–{value['ci_high']:.{digits}f}]"


def rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant of the ladder: capacity, latency and CPU at the common rate, cost, the SLO."""
    out = []
    ladder = {n: v for n, v in summary["variants"].items() if v["rung"] in RUNG_ORDER and not v["params"]}
    for name in sorted(ladder, key=lambda n: (RUNG_ORDER.index(ladder[n]["rung"]), ladder[n]["stack"])):
        v, cost = ladder[name], summary["cost"].get(name, {})
        p99 = v["p99_ms"]
        slo = "✓" if p99 is not None and p99 <= summary["slo"]["p99_ms"] else "✗"
        rate = v.get("common_rate_rps")
        capacity = _est(v["capacity_rps"]) if v.get("slo_met", True) else "none within the SLO"
        out.append((name, capacity, f"{rate:g}" if rate else "–", f"{v['p50_ms']:.1f}" if v["p50_ms"] else "–",
                    f"{p99:.1f}" if p99 else "–", _est(v["cpu_ms_per_request"], 2),
                    f"{cost['usd_per_million']:.3f}" if cost else "–", slo))  # fmt: skip
    return out


HEADER = ("variant", "capacity, req/s [95 % CI]", "at req/s", "p50 ms", "p99 ms", "CPU ms/request [95 % CI]",
          "$ per million", "p99 within SLO")  # fmt: skip


def markdown_table(summary: dict[str, Any]) -> str:
    """The table, in Markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(summary)]
    return "\n".join(lines)


def terminal_table(summary: dict[str, Any]) -> str:
    """The table as a run ends, in the spirit of k6's end-of-test summary: aligned, ✓ or ✗ per variant."""
    table = [HEADER, *rows(summary)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("─" * w for w in widths))
    lines.append(f"capacity: the highest open-loop rate with p99 ≤ {summary['slo']['p99_ms']:g} ms and "
                 f"≤ {summary['slo']['failed_at_most'] * 100:g} % failed; latency and CPU at the rate given, the same "
                 "for both stacks of a rung")  # fmt: skip
    lines += ["", *[f"  {c['words']}  ({c['verdict']})" for c in summary["comparisons"] if c["headline"]]]
    return "\n".join(lines)


def headline_chart(probes_path: Path, summary: dict[str, Any], path: Path) -> Path | None:
    """p99 against offered rate, async against sync, for the reference and the minimal twins (one panel each, two
    series per panel), each series' median across repetitions and its range as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not probes_path.exists():
        return None
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in probes_path.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") in ("search", "common") and record.get("p99_ms"):
            points[record["variant"]].append((record["rate"], record["p99_ms"]))
    panels = [rung for rung in ("reference", "minimal") if f"{rung}-async" in points]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, rung in zip(axes[0], panels, strict=True):
        for stack, colour in (("async", "tab:blue"), ("sync", "tab:orange")):
            xs, mid, low, high = _binned(points.get(f"{rung}-{stack}", []))
            if not xs:
                continue
            ax.plot(xs, mid, color=colour, label=f"{stack} (median)")
            ax.fill_between(xs, low, high, color=colour, alpha=0.2, label=f"{stack} (range, repetitions)")
        ax.axhline(summary["slo"]["p99_ms"], color="grey", linestyle="--", linewidth=1)
        ax.set(title=RUNG_WORDS[rung].capitalize(), xlabel="offered req/s (open loop)", ylabel="p99 ms", yscale="log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _binned(points: Sequence[tuple[float, float]], bins: int = 12) -> tuple[list[float], ...]:
    if not points:
        return [], [], [], []
    rates = sorted(r for r, _ in points)
    low_rate, high_rate = rates[0], rates[-1]
    step = (high_rate - low_rate) / bins or 1.0
    grouped: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for rate, p99 in points:
        grouped[min(bins - 1, int((rate - low_rate) / step))].append((rate, p99))
    xs, mid, low, high = [], [], [], []
    for key in sorted(grouped):
        values = grouped[key]
        xs.append(statistics.median(r for r, _ in values))
        p99s = [p for _, p in values]
        mid.append(statistics.median(p99s))
        low.append(min(p99s))
        high.append(max(p99s))
    return xs, mid, low, high


def crossover_chart(summary: dict[str, Any], path: Path) -> Path | None:
    """The crossover map at fan-out 2: async / sync capacity per cell (model wait x CPU per prediction), each cell
    marked with its verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in summary.get("crossover", []) if c["params"].get("fanout") == 2]
    if not cells:
        return None
    waits = sorted({c["params"]["wait_ms"] for c in cells})
    cpus = sorted({c["params"]["cpu_ms"] for c in cells})
    grid = [[float("nan")] * len(waits) for _ in cpus]
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for c in cells:
        i, j = cpus.index(c["params"]["cpu_ms"]), waits.index(c["params"]["wait_ms"])
        grid[i][j] = c["ratio"] if c["ratio"] is not None else (1.5 if _async_wins(c) else 0.5)
        mark = {"difference": "", "no_difference": " ≈", "undecided": " ?"}[c["verdict"]]
        label = _span(c) if c["ratio"] is None else f"{c['ratio']:.2f}×{mark}\n[{c['ci_low']:.2f}–{c['ci_high']:.2f}]"
        ax.text(j, i, label, ha="center", va="center", fontsize=8)
    image = ax.imshow(grid, cmap="RdBu", vmin=0.5, vmax=1.5, origin="lower")
    ax.set(xticks=range(len(waits)), xticklabels=[f"{w:g}" for w in waits], yticks=range(len(cpus)),
           yticklabels=[f"{c:g}" for c in cpus], xlabel="model wait per call, ms", ylabel="CPU per prediction, ms",
           title="async / sync capacity (fan-out 2)")  # fmt: skip
    fig.colorbar(image, ax=ax, label="ratio")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def readme_block(summary: dict[str, Any], chart: str | None) -> str:
    """The README's results block: the answer in at most three sentences, then the chart, then the table."""
    fingerprint = summary["fingerprint"]
    target = "bench" if summary.get("crossover") else "answer"
    lines = [" ".join(sentences(summary)), ""]
    if chart:
        lines += [f"![p99 against offered rate, async against sync]({chart})", ""]
    lines += [markdown_table(summary), "",
              f"Measured by `make {target}` at code `{str(fingerprint.get('code_sha'))[:12]}` on "
              f"{fingerprint.get('cpu_count')} cores ({fingerprint.get('cpu_model')}), the load generator on the same "
              f"cores; [how](doc/benchmark.md), [the whole run](doc/results/answer.md)."]  # fmt: skip
    return "\n".join(lines)


def ladder_steps(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparisons of one rung against another on the same stack."""
    variants = summary["variants"]
    return [c for c in summary["comparisons"] if c["a"] in variants and c["b"] in variants
            and variants[c["a"]]["stack"] == variants[c["b"]]["stack"]
            and variants[c["a"]]["rung"] != variants[c["b"]]["rung"]]  # fmt: skip


def answer_page(summary: dict[str, Any], charts: dict[str, str]) -> str:
    """``answer.md``: the sentences, the charts, every comparison with its verdict, cost, and the crossover cells."""
    lines = ["# The answer", "", *[f"- {s}" for s in sentences(summary)], ""]
    for title, chart in charts.items():
        lines += [f"![{title}]({chart})", ""]
    lines += ["## Every variant", "", markdown_table(summary), "", "## Every comparison", "",
              "| a | b | metric | a / b [95 % CI] | verdict | repetitions |", "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {c['a']} | {c['b']} | {c['metric']} | {_span(c)} | {c['verdict']} | {c['n']} |"
              for c in summary["comparisons"]]  # fmt: skip
    if steps := ladder_steps(summary):
        lines += ["", "## The build ladder", "", "Each rung against the next on the same stack: what people write, the "
                  "reference, the bare framework (the reference without its middleware), the minimal twin.", "",
                  "| stack | a | b | metric | a / b [95 % CI] | verdict |", "|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {summary['variants'][c['a']]['stack']} | {c['a']} | {c['b']} | {c['metric']} | {_span(c)} | "
                  f"{c['verdict']} |" for c in steps]  # fmt: skip
    if summary.get("crossover"):
        lines += ["", "## The crossover map", "", "| wait ms | CPU ms | fan-out | async / sync capacity [95 % CI] | "
                  "verdict | predicted by CPU |", "|---|---|---|---|---|---|"]  # fmt: skip
        for c in summary["crossover"]:
            p = c["params"]
            predicted = f"{c['predicted_ratio']:.2f}×" if c.get("predicted_ratio") else "–"
            lines.append(f"| {p['wait_ms']:g} | {p['cpu_ms']:g} | {p['fanout']} | {_span(c)} | {c['verdict']} | "
                         f"{predicted} |")  # fmt: skip
    if summary.get("tracing"):
        lines += ["", "## What tracing costs", "",
                  "Each stack's reference with every request traced (OTLP/HTTP to a collector that drops the spans) "
                  "against the same reference with tracing off, side by side.", "",
                  "| stack | CPU per request, on / off [95 % CI] | verdict | capacity, on / off [95 % CI] | verdict |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for stack, found in summary["tracing"].items():
            cells = [(_span(c), c["verdict"]) if c else ("–", "–")
                     for c in (found.get("cpu_ms_per_request"), found.get("capacity_rps"))]  # fmt: skip
            lines.append(f"| {stack} | {' | '.join(x for cell in cells for x in cell)} |")
    lines += ["", "## Cost", "",
              "| variant | CPU s per 1,000 requests | cores per 1,000 req/s at the SLO | $ per million |",
              "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | {c['cpu_s_per_1000']:.3f} | {c['cores_per_1000_rps']:.3f} | {c['usd_per_million']:.4f} |"
              for name, c in summary["cost"].items()]  # fmt: skip
    settings, fingerprint = summary["settings"], summary["fingerprint"]
    lines += ["", f"At ${settings['vcpu_hour_usd']} per vCPU-hour (BENCH_VCPU_HOUR_USD). Code "
              f"`{fingerprint.get('code_sha')}`, lock `{str(fingerprint.get('lock_sha256'))[:12]}`, "
              f"{fingerprint.get('cpu_count')} × {fingerprint.get('cpu_model')}, Python {fingerprint.get('python')}; "
              f"{settings['seconds'] / 60:.0f} minutes."]  # fmt: skip
    return "\n".join(lines) + "\n"
