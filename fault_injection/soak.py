"""``make soak``: a long steady load on each stack with a fault injected periodically (not in CI).

Reports, per stack: answers by kind (full, degraded, each error), latency percentiles, and the
memory (RSS) and file descriptors of every service process at the start and the end, so that a
leak shows as growth. Results go to ``var/soak/soak-<stack>-<time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from fault_injection.harness import FaultStack
from fault_injection.load import Load, Result
from system_launcher.procfs import children, fd_count, rss_kib
from system_launcher.topology import STACKS

PROGRESS_EVERY_S = 10.0


def faults(fs: FaultStack, client: redis.Redis) -> list[tuple[str, Callable[[], None], Callable[[], None]]]:
    """The injected faults, in turn: (name, start, end); ``client`` is a client of the stack's Redis."""
    model_b = fs.model_b.name

    def pause_redis() -> None:
        with contextlib.suppress(redis.RedisError):
            client.client_pause(2000, all=True)

    return [
        ("model_b killed", lambda: fs.signal_service(model_b, signal.SIGKILL), lambda: fs.restart(model_b)),
        ("model_b frozen", lambda: fs.signal_service(model_b, signal.SIGSTOP),
         lambda: fs.signal_service(model_b, signal.SIGCONT)),
        ("model_b slow", lambda: fs.proxy.set_latency(0.4), fs.proxy.restore),
        ("model_b blackholed", fs.proxy.blackhole, fs.proxy.restore),
        ("redis paused", pause_redis, lambda: None),
    ]  # fmt: skip


def process_usage(fs: FaultStack) -> dict[str, dict[str, int]]:
    """RSS (KiB) and open file descriptors of every running service process and its workers."""
    usage = {}
    for process in fs.supervisor.processes:
        if process.popen.poll() is not None:
            continue
        pids = [process.popen.pid, *children(process.popen.pid)]
        usage[process.name] = {"rss_kib": sum(map(rss_kib, pids)), "fds": sum(map(fd_count, pids))}
    return usage


def summarize(results: list[Result]) -> dict:
    """Answers by kind and latency percentiles."""
    kinds = Counter(_kind(r) for r in results)
    latencies = sorted(r.seconds for r in results) or [0.0]
    pct = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)  # noqa: E731
    total = max(1, len(results))
    return {
        "requests": len(results),
        "kinds": dict(kinds),
        "full_answer_rate": round(kinds["full"] / total, 4),
        "answered_rate": round((kinds["full"] + kinds["degraded"]) / total, 4),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": round(latencies[-1] * 1000, 1)},
    }


def soak(stack: str, duration_s: float, fault_every_s: float, fault_s: float, threads: int, out: Path) -> dict:
    """Run one stack's soak and return its report."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        FaultStack(stack, Path(tmp)) as fs,
        contextlib.closing(fs.redis()) as client,
    ):
        catalogue = faults(fs, client)
        usage_start = process_usage(fs)
        injected: list[dict] = []
        started = time.monotonic()
        next_fault = started + fault_every_s
        next_progress = started + PROGRESS_EVERY_S
        with Load(fs.url, threads=threads, max_s=duration_s + 60) as load:
            while (now := time.monotonic()) - started < duration_s:
                if now >= next_fault:
                    name, begin, end = catalogue[len(injected) % len(catalogue)]
                    begin()
                    time.sleep(fault_s)
                    end()
                    injected.append({"fault": name, "at_s": round(now - started, 1)})
                    next_fault = now + fault_every_s
                if now >= next_progress:
                    s = summarize(load.results)
                    print(
                        f"[{stack}] {now - started:5.0f}/{duration_s:.0f}s  {s['requests']} requests  "
                        f"full {s['full_answer_rate']:.1%}  answered {s['answered_rate']:.1%}  "
                        f"p99 {s['latency_ms']['p99']} ms  faults {len(injected)}",
                        flush=True,
                    )
                    next_progress = now + PROGRESS_EVERY_S
                time.sleep(0.2)
        time.sleep(1)  # let gauges and pools settle before the last reading
        report = {
            "stack": stack,
            "duration_s": duration_s,
            "threads": threads,
            "faults": injected,
            **summarize(load.results),
            "processes_start": usage_start,
            "processes_end": process_usage(fs),
        }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"soak-{stack}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    report["path"] = str(path)
    return report


def main(argv: list[str] | None = None) -> int:
    """Soak each stack in turn and print where the reports went."""
    parser = argparse.ArgumentParser(prog="python -m fault_injection.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--stacks", nargs="+", choices=STACKS, default=list(STACKS),
                        help="stacks to soak, one after the other (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--duration-s", type=float, default=600, help="seconds of load per stack (default: %(default)s)"
    )
    parser.add_argument("--fault-every-s", type=float, default=30,
                        help="seconds between the starts of two faults (default: %(default)s)")  # fmt: skip
    parser.add_argument("--fault-s", type=float, default=3, help="how long each fault lasts (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=8,
                        help="closed-loop clients of the steady load (default: %(default)s)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("var/soak"),
                        help="where the JSON reports go (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    for stack in args.stacks:
        r = soak(stack, args.duration_s, args.fault_every_s, args.fault_s, args.threads, args.out)
        print(
            f"\n[{stack}] {r['requests']} requests, full answers {r['full_answer_rate']:.2%}, "
            f"answered {r['answered_rate']:.2%}, p99 {r['latency_ms']['p99']} ms, {len(r['faults'])} faults"
        )
        for name, start in r["processes_start"].items():
            end = r["processes_end"].get(name, {"rss_kib": 0, "fds": 0})
            print(f"  {name:16} RSS {start['rss_kib'] / 1024:7.1f} -> {end['rss_kib'] / 1024:7.1f} MiB   "
                  f"fds {start['fds']:4} -> {end['fds']:4}")  # fmt: skip
        print(f"  report: {r['path']}")
    return 0


def _kind(result: Result) -> str:
    if result.status == 200:
        return "full" if result.body.get("degraded") == [] else "degraded"
    return f"{result.status} {result.body.get('error', '')}".strip()


if __name__ == "__main__":
    sys.exit(main())
