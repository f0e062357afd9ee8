"""The report's PNG charts (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display
import matplotlib.pyplot as plt

from service_runtime.core.topology import STACKS

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
    fig, axes = plt.subplots(3, 2, figsize=(11, 7), sharex="col", squeeze=False)
    for col, stack in enumerate(STACKS):
        result = results.get(stack)
        axes[0][col].set_title(f"{stack}: {title} ({note})", fontsize=9)
        if not result:
            continue
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
