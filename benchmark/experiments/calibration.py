"""The load generator checked against a server whose truth is known (benchmark/load/fixed_server.py).

Two questions, answered in every run beside the results they qualify:
- **Precision**: against a server answering in exactly ``delay_ms``, what p50 and p99 does the generator report,
  at a low and a high rate, how long did the server really take (its own sleeps wake late on a loaded or
  virtual machine), and how late was the generator's own sender?
- **Coordinated omission**: against a server that stops for one second in the middle of a run, what tail does
  each way of loading report: the open-loop generator, the same generator in closed loop (a fixed number of
  connections, as Locust users and wrk do), and wrk itself when it is installed (wrk 4 back-fills the requests a
  stalled connection did not send, from the mean interval it measured)?
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from benchmark.load.fixed_server import running_fixed_server
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator
from benchmark.load.wrk import run_wrk, wrk_script
from benchmark.settings import BenchSettings

DELAY_MS = 20.0
STALL_DELAY_MS = 5.0
STALL_S = 1.0
CONNECTIONS = 8


def _cores() -> tuple[int | None, int | None]:
    """The generator on one core and the server on another, when there are two."""
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) > 1 else (None, None)


def precision(rates: list[float], seconds: float, say) -> list[dict]:
    """Reported p50/p99 against the true delay, per rate."""
    generator_cpu, server_cpu = _cores()
    rows = []
    with running_fixed_server(DELAY_MS, cpu=server_cpu) as server:
        for rate in rates:
            server.served()  # starts the server's own count afresh
            result = run_generator(server.url(), Plan(duration_s=seconds, warmup_s=1, rate=rate), cpu=generator_cpu)
            latency, served = result["latency"], server.served()
            rows.append({"rate": rate, "true_ms": DELAY_MS, "p50_ms": latency["p50_ms"], "p99_ms": latency["p99_ms"],
                         "p50_error_ms": round(latency["p50_ms"] - DELAY_MS, 3),
                         "p99_error_ms": round(latency["p99_ms"] - DELAY_MS, 3),
                         # What the server really took (its sleeps wake late on a busy or virtual machine), warm-up
                         # included: the part of the error that is the machine's, not the generator's.
                         "served_p50_ms": served["p50_ms"], "served_p99_ms": served["p99_ms"],
                         "send_lag_p99_ms": result["send_lag"]["p99_ms"], "outcomes": result["outcomes"],
                         "client_cpu_ms_per_request": result["client_cpu_ms_per_request"]})  # fmt: skip
            say(f"    fixed {DELAY_MS:g} ms at {rate:g} req/s: p50 {latency['p50_ms']} p99 {latency['p99_ms']} ms; "
                f"the server took p50 {served['p50_ms']} p99 {served['p99_ms']} ms; "
                f"sender late by {result['send_lag']['p99_ms']} ms at p99")  # fmt: skip
    return rows


def stall(rate: float, seconds: float, say) -> list[dict]:
    """What each way of loading reports when the server stops once for ``STALL_S``."""
    generator_cpu, server_cpu = _cores()
    stall_after = 1.0 + seconds / 2  # start-up and warm-up, then the middle of the recorded part
    rows = []

    def row(tool: str, requests: int, latency: dict) -> None:
        kept = {k: latency[k] for k in ("p50_ms", "p99_ms", "p99_9_ms", "max_ms") if k in latency}
        rows.append({"tool": tool, "requests": requests, **kept})
        say(f"    1 s stall, {tool}: p50 {latency['p50_ms']} p99 {latency['p99_ms']} max {latency['max_ms']} ms")

    with running_fixed_server(STALL_DELAY_MS, cpu=server_cpu) as server:
        server.stall(after_s=stall_after, for_s=STALL_S)
        open_loop = run_generator(server.url(), Plan(duration_s=seconds, warmup_s=1, rate=rate), cpu=generator_cpu)
        row(f"open loop, {rate:g} req/s", open_loop["requests"], open_loop["latency"])
        server.stall(after_s=stall_after, for_s=STALL_S)
        closed = run_generator(server.url(), Plan(duration_s=seconds, warmup_s=1, closed_connections=CONNECTIONS),
                               cpu=generator_cpu)  # fmt: skip
        row(f"closed loop, {CONNECTIONS} connections", closed["requests"], closed["latency"])
        if shutil.which("wrk"):
            with tempfile.TemporaryDirectory() as tmp:
                script = Path(tmp) / "check.lua"
                script.write_text(wrk_script("async"))
                server.stall(after_s=stall_after - 1.0, for_s=STALL_S)  # wrk starts at once
                found = run_wrk(server.url(), CONNECTIONS, seconds, script)
            row(f"wrk, {CONNECTIONS} connections", found["requests"], found)
    return rows


def run_calibration(settings: BenchSettings, out: Path, say=print) -> Path:
    """Both checks; ``calibration.json`` under ``out``."""
    seconds = 2.0 if settings.quick else 10.0
    say("  calibration: the generator against a fixed-delay server, then against a 1 s stall")
    found = {"precision": precision([100.0, 1000.0], seconds, say), "stall": stall(200.0, max(seconds, 5.0), say),
             "delay_ms": DELAY_MS, "stall_delay_ms": STALL_DELAY_MS, "stall_s": STALL_S}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    path = out / "calibration.json"
    path.write_text(json.dumps(found, indent=1))
    return path
