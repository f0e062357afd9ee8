"""The report's PNG charts (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt

from benchmark.experiments.scenarios import STACKS

COLORS = {"async": "tab:blue", "sync": "tab:orange"}


def shared_cores(cores: int) -> str:
    """The caveat every chart's title carries."""
    return f"load generator shares the {cores} cores"


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def scenario_timeseries(results: dict[str, dict], title: str, note: str, path: Path) -> Path:
    """req/s, p50/p95/p99 and users over time, one column per stack."""
    # Side by side, the two columns share every axis: the same height means the same figure.
    fig, axes = plt.subplots(3, 2, figsize=(11, 7), sharex=True, sharey="row", squeeze=False)
    for col, stack in enumerate(STACKS):
        result = results.get(stack)
        if not result:
            axes[0][col].set_title(f"{stack}: {title}: not run", fontsize=9)
            continue
        users = max((r["users"] for r in result["per_second"]), default=0)
        axes[0][col].set_title(f"{stack}: {title}, {users} users ({note})", fontsize=9)
        rows = result["per_second"]
        t0 = rows[0]["t"] if rows else 0
        t = [r["t"] - t0 for r in rows]
        axes[0][col].plot(t, [r["rps"] for r in rows], color=COLORS[stack])
        axes[0][col].set_ylabel("req/s")
        for pct, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            axes[1][col].plot(t, [r[pct] for r in rows], style, color=COLORS[stack], label=pct[:-3])
        axes[1][col].set_ylabel("ms")
        axes[1][col].legend(fontsize=7)
        axes[2][col].plot(t, [r["users"] for r in rows], color="gray")
        axes[2][col].set_ylabel("users")
        axes[2][col].set_xlabel("seconds")
    return _save(fig, path)


def ramp_chart(results: dict[str, dict], p95_limit_ms: float, title: str, note: str, path: Path) -> Path:
    """Per ramp step: throughput and p95 against users, both stacks, breaking points marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for stack, result in results.items():
        steps = result["steps"]
        users = [s["users"] for s in steps]
        left.plot(users, [s["rps"] for s in steps], "o-", color=COLORS[stack], label=stack)
        right.plot(users, [s["p95_ms"] for s in steps], "o-", color=COLORS[stack], label=f"{stack} p95")
        found = result.get("breaking_point")
        if found:
            left.axvline(found["users"], color=COLORS[stack], ls=":", lw=1)
            right.axvline(found["users"], color=COLORS[stack], ls=":", lw=1)
    right.axhline(p95_limit_ms, color="red", lw=1, label=f"p95 limit {p95_limit_ms:g} ms")
    left.set(xlabel="users", ylabel="req/s", title=f"{title}: throughput per step ({note})")
    right.set(xlabel="users", ylabel="ms", title="p95 per step (dotted: breaking point)")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return _save(fig, path)


def decomposition_chart(rows: list[tuple[str, dict[str, float]]], note: str, path: Path) -> Path:
    """Stacked bars: mean client time split into its parts, for each (stack, load) label."""
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(rows) + 1.5))
    parts = list(rows[0][1]) if rows else []
    left = [0.0] * len(rows)
    for part in parts:
        values = [max(0.0, r[1].get(part, 0.0)) for r in rows]
        ax.barh([r[0] for r in rows], values, left=left, label=part)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set(xlabel="mean ms per request", title=f"Where each stack's time goes ({note})")
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def timeit_chart(per_stack: dict[str, dict[int, list[float]]], note: str, path: Path) -> Path:
    """Mean time of N sequential calls against N, with min-max spread, both stacks."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for stack, by_n in per_stack.items():
        ns = sorted(by_n)
        means = [sum(by_n[n]) / len(by_n[n]) for n in ns]
        ax.plot(ns, means, "o-", color=COLORS[stack], label=f"{stack} mean")
        ax.fill_between(ns, [min(by_n[n]) for n in ns], [max(by_n[n]) for n in ns], color=COLORS[stack], alpha=0.2)
    ax.set(xlabel="N sequential calls", ylabel="seconds", title=f"timeit: N calls, min-max band ({note})")
    ax.legend()
    return _save(fig, path)


def sweep_chart(rows: list[dict], note: str, path: Path) -> Path:
    """Capacity (req/s at the breaking point) of each sweep variant, with its p99."""
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    names = [r["variant"] for r in rows]
    ax.barh(names, [r["capacity_rps"] or 0 for r in rows], color=[COLORS[r["stack"]] for r in rows])
    for i, r in enumerate(rows):
        ax.text(r["capacity_rps"] or 0, i, f"  p99 {r['p99_ms']} ms" if r["p99_ms"] else "  no step met the rule",
                va="center", fontsize=8)  # fmt: skip
    ax.invert_yaxis()
    ax.set(xlabel="req/s at the breaking point", title=f"Configuration sweep ({note})")
    return _save(fig, path)


PERCENTILE_PANELS = (("p50_ms", "p50"), ("p99_ms", "p99"), ("p99_9_ms", "p99.9"))


def curves_chart(curves: list, limit_ms: float, note: str, path: Path) -> Path:
    """Latency against offered rate, one panel per percentile, every variant on each, all axes shared: the
    median of the repetitions as a line, their min-max as a band."""
    fig, axes = plt.subplots(1, len(PERCENTILE_PANELS), figsize=(15, 4.8), sharex=True, sharey=True)
    for ax, (key, label) in zip(axes, PERCENTILE_PANELS, strict=True):
        for index, curve in enumerate(curves):
            points = curve.per_rate[key]
            rates = [r for r in sorted(points) if points[r]["n"]]
            style = "-" if index < 10 else "--"
            ax.plot(rates, [points[r]["median"] for r in rates], style, marker="o", ms=3, label=curve.variant,
                    color=f"C{index % 10}")  # fmt: skip
            ax.fill_between(rates, [points[r]["min"] for r in rates], [points[r]["max"] for r in rates],
                            color=f"C{index % 10}", alpha=0.15)  # fmt: skip
        ax.axhline(limit_ms, color="red", lw=1, ls=":")
        ax.set(xlabel="offered req/s (open loop)", title=f"{label} (red: {limit_ms:g} ms)", yscale="log")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("ms (log scale)")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Latency-throughput curves: median of repetitions, band min-max ({note})", fontsize=10)
    return _save(fig, path)


def burst_chart(rows: list[dict], note: str, path: Path) -> Path:
    """Answers of the burst scenario by kind, one bar per variant, all repetitions summed."""
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.5))
    names = [r["variant"] for r in rows]
    left = [0] * len(rows)
    for kind, color in (("ok", "tab:green"), ("degraded", "tab:olive"), ("shed", "tab:red"),
                        ("other_failures", "tab:gray")):  # fmt: skip
        values = [r[kind] for r in rows]
        ax.barh(names, values, left=left, color=color, label=kind)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set(xlabel="requests (all repetitions)", title=f"Lockstep bursts: what each request got ({note})")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)
