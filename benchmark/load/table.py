"""The load generator's result as a table a person reads at the end of a run, in the spirit of k6's end-of-test
summary: what was offered, what came back, the latency percentiles, and the CPU each side spent."""

from __future__ import annotations

from typing import Any

DOTS = 20


def _row(name: str, value: str) -> str:
    return f"  {name} {'.' * max(2, DOTS - len(name))}: {value}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} ms"


def render(result: dict[str, Any]) -> str:
    """The table; ✓ when every recorded answer was right (ok or degraded), ✗ otherwise."""
    latency = result["latency"]
    if result["mode"] == "closed":
        mode = f"closed loop, {result['connections']} connections"
    else:
        mode = f"open loop, {result['pattern']} arrivals, {result['offered_rps']:g} req/s offered"
    mode += f", {result['duration_s']:g} s recorded after {result['warmup_s']:g} s of warm-up"
    outcomes = result["outcomes"]
    failed = result["errors"]
    mark = "✓" if failed == 0 and result["requests"] else "✗"
    rate = f"{failed / result['requests'] * 100:.2f} %" if result["requests"] else "–"
    lines = [
        _row("target", result["target"]),
        _row("mode", mode),
        _row("requests", f"{result['requests']} recorded, {result['ok_rps']:g} right answers per second"),
        _row("answers", f"{mark} " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + f"; failed {rate}"),
        _row(
            "latency",
            "  ".join(f"{name} {_ms(latency.get(f'{name}_ms'))}" for name in ("p50", "p90", "p99"))
            + f"  max {_ms(latency.get('max_ms'))}",
        ),
    ]
    if result.get("send_lag"):
        lines.append(_row("send lag", f"p99 {_ms(result['send_lag'].get('p99_ms'))} (how late requests left)"))
    cpu = f"generator {result['client_cpu_ms_per_request']:g} ms"
    if result.get("stack_cpu_ms_per_request") is not None:
        cpu += f", stack {result['stack_cpu_ms_per_request']:g} ms"
    lines.append(_row("CPU per request", cpu))
    lines.append(_row("connections", f"{result['connections_opened']} opened, {result['queued_in_client']} requests "
                                     "waited in the client for one"))  # fmt: skip
    return "\n".join(lines)
