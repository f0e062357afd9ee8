"""The open-loop load generator, proved against a server whose truth is known (benchmark/load/fixed_server.py).

Small runs (a few seconds each), as the issue asks: exact delays are reported exactly, a stall shows in the
open-loop tail and not in a closed loop's, wrong answers and missing answers are counted, never hidden.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from benchmark.load.fixed_server import running_fixed_server
from benchmark.load.openloop import Plan
from benchmark.load.openloop_run import run_generator

DELAY_MS = 20.0
# Tests assert behaviour, never timings: the 0.5 ms precision is measured by the calibration experiment
# (python -m benchmark calibration) on the machine that runs the benchmark. Here: the generator never
# reports less than the server's delay, and what it adds is bounded far above any scheduling noise.
SLACK_MS = 10.0
CORES = sorted(os.sched_getaffinity(0))
# The generator on one core and the server on another, when there are two: neither waits for the other's CPU.
GENERATOR_CPU, SERVER_CPU = (CORES[0], CORES[1]) if len(CORES) > 1 else (None, None)


def test_a_fixed_delay_is_reported_as_that_delay():
    with running_fixed_server(DELAY_MS, cpu=SERVER_CPU) as server:
        result = run_generator(server.url(), Plan(duration_s=4, warmup_s=1, rate=100), cpu=GENERATOR_CPU)
    assert result["outcomes"] == {"ok": 400}
    latency = result["latency"]
    # Measured from the intended send time, so never less than the delay (0.05 ms: the histogram's resolution).
    assert latency["p50_ms"] >= DELAY_MS - 0.05, latency
    assert latency["p50_ms"] < DELAY_MS + SLACK_MS, latency
    assert latency["p99_ms"] < DELAY_MS + SLACK_MS, latency
    assert result["client_cpu_ms_per_request"] > 0  # its own cost is reported beside the result
    assert result["client_cpu"] == ([GENERATOR_CPU] if GENERATOR_CPU is not None else CORES)


def test_the_fixed_server_says_what_it_really_took_since_it_was_last_asked():
    with running_fixed_server(DELAY_MS, cpu=SERVER_CPU) as server:
        assert server.served()["count"] == 0
        result = run_generator(server.url(), Plan(duration_s=1, warmup_s=0.5, rate=100), cpu=GENERATOR_CPU)
        served = server.served()
        assert server.served()["count"] == 0  # read out once
    assert result["outcomes"] == {"ok": 100}
    assert served["count"] == 150  # warm-up included: the server cannot tell it apart
    assert served["p50_ms"] >= DELAY_MS - 0.05, served
    assert served["p99_ms"] <= result["latency"]["max_ms"], (served, result["latency"])


def test_a_one_second_stall_shows_in_the_open_loop_tail_and_not_in_the_closed_loop():
    with running_fixed_server(5.0, cpu=SERVER_CPU) as server:
        # 6 s recorded after 1 s of warm-up; the server stops for 1 s in the middle of the recorded part.
        server.stall(after_s=3.0, for_s=1.0)
        open_loop = run_generator(server.url(), Plan(duration_s=6, warmup_s=1, rate=200), cpu=GENERATOR_CPU)
        server.stall(after_s=3.0, for_s=1.0)
        closed_loop = run_generator(server.url(), Plan(duration_s=6, warmup_s=1, closed_connections=8),
                                    cpu=GENERATOR_CPU)  # fmt: skip
    # Open loop: ~200 of 1,200 requests were due during the stall and waited up to 1 s.
    assert open_loop["errors"] == 0
    assert open_loop["latency"]["p99_ms"] >= 500, open_loop["latency"]
    assert open_loop["latency"]["max_ms"] >= 900
    # Closed loop: 8 requests waited, among thousands sent while the server was running.
    assert closed_loop["errors"] == 0
    assert closed_loop["latency"]["max_ms"] >= 900  # it saw the stall...
    assert closed_loop["latency"]["p99_ms"] < 100, closed_loop["latency"]  # ...and its tail hides it


def test_wrong_answers_are_counted_as_errors():
    with running_fixed_server(1.0, wrong_every=10) as server:
        result = run_generator(server.url(), Plan(duration_s=2, rate=100))
    assert result["outcomes"] == {"ok": 180, "wrong": 20}
    assert result["errors"] == result["wrong"] == 20


def test_requests_never_answered_fail_at_their_timeout_and_count_in_the_tail():
    with running_fixed_server(1.0) as server:
        server.stall(after_s=0.0, for_s=8.0)
        result = run_generator(server.url(), Plan(duration_s=1, rate=50, timeout_s=0.5))
    assert result["outcomes"] == {"timeout": 50}
    assert result["latency"]["p50_ms"] >= 500


def test_a_refused_connection_is_an_error_not_a_hang():
    with socket.socket() as holder:  # a port nobody listens on: bound, never listening
        holder.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{holder.getsockname()[1]}/api/v1/ml/async/predict"
        result = run_generator(url, Plan(duration_s=1, rate=20, timeout_s=1))
    assert result["outcomes"] == {"connect": 20}
    assert result["error_rate"] == 1.0


def test_run_by_hand_it_ends_with_a_table_a_person_reads():
    with running_fixed_server(DELAY_MS, cpu=SERVER_CPU) as server:
        done = subprocess.run([sys.executable, "-m", "benchmark.load.openloop", server.url(), "--rate", "50",
                               "--duration-s", "1", "--quiet"], capture_output=True, text=True, timeout=60,
                              check=True)  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].startswith("  target ..")
    assert "open loop, constant arrivals, 50 req/s offered" in done.stdout
    assert "  answers .............: ✓ ok 50; failed 0.00 %" in lines
    assert any(line.startswith("  latency ..") and "p99" in line for line in lines)
