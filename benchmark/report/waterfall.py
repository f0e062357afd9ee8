"""One trace as a waterfall chart (PNG, matplotlib): a bar per span, children under their parent, on a shared time axis.

``python -m benchmark.report.waterfall SPANS.json CHART.png`` draws the spans of a JSON list, each an object with
``service``, ``name``, ``kind``, ``trace_id``, ``span_id``, ``parent_id`` (null for the root), ``start_ns`` and
``end_ns``: what ``tests/tracing`` captures from the services' console exporters and the edge's OTLP export
(``TRACES_OUT=doc/tracing`` on its run, doc/tracing.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt

# One colour per role of a stack, whichever stack: the services are named {stack}-{role}.
ROLE_COLORS = {"edge": "tab:gray", "scoring": "tab:blue", "model_a": "tab:orange", "model_b": "tab:green"}


def ordered(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """The spans depth first from the root(s), each with its depth; siblings by start time."""
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None  # a caller's span outside the trace: root
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, dict[str, Any]]] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start_ns"]):
            out.append((depth, span))
            visit(span["span_id"], depth + 1)

    visit(None, 0)
    return out


def role_of(service: str) -> str:
    """``async-model_a`` -> ``model_a``."""
    return service.split("-", 1)[-1]


def draw(spans: list[dict[str, Any]], path: Path, title: str) -> Path:
    """The waterfall of ``spans`` (one trace) to ``path``."""
    rows = ordered(spans)
    origin = min(s["start_ns"] for s in spans)
    # A call's label names the service it reached (the service of its child span).
    reached = {s["parent_id"]: s["service"] for s in spans if s["kind"] == "SERVER"}
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.2))
    for row, (depth, span) in enumerate(rows):
        start, width = (span["start_ns"] - origin) / 1e6, (span["end_ns"] - span["start_ns"]) / 1e6
        ax.barh(row, width, left=start, color=ROLE_COLORS.get(role_of(span["service"]), "tab:purple"), height=0.6)
        target = f" -> {reached[span['span_id']]}" if span["kind"] == "CLIENT" and span["span_id"] in reached else ""
        label = f"{'  ' * depth}{span['service']}: {span['name']} ({span['kind'].lower()}){target}"
        ax.text(-0.5, row, label, transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=8,
                family="monospace")  # fmt: skip
        ax.text(start + width, row, f" {width:.1f} ms", va="center", fontsize=7)
    ax.set_yticks([])
    ax.invert_yaxis()
    ax.set_xlabel("ms since the trace's first span started")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlim(0, max(s["end_ns"] - origin for s in spans) / 1e6 * 1.12)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmark.report.waterfall", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("spans", type=Path, help="the trace's spans, a JSON list")
    parser.add_argument("chart", type=Path, help="the PNG to write")
    parser.add_argument("--title", help="the chart's title (default: the trace's root and its duration)")
    args = parser.parse_args(argv)
    spans = json.loads(args.spans.read_text())
    if len({s["trace_id"] for s in spans}) != 1:
        parser.error(f"{args.spans} holds more than one trace")
    root = ordered(spans)[0][1]
    title = args.title or f"{root['service']}: {root['name']}, {(root['end_ns'] - root['start_ns']) / 1e6:.1f} ms"
    print(draw(spans, args.chart, title))


if __name__ == "__main__":
    main()
