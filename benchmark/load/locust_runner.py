"""Run Locust headless as a subprocess against one stack, with a progress bar, and collect its outputs."""

from __future__ import annotations

import csv
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from system_launcher.registry import LOCUSTFILE

SHAPEFILE = "benchmark/load/shapes.py"


@dataclass
class LocustRun:
    """What to run: a name for the files, the target, the users (or a ramp) and the duration."""

    name: str
    stack: str
    host: str
    duration_s: int
    users: int = 1
    pacing_s: float = 0.0
    ramp_step_users: int | None = None  # set: the StepRamp shape drives the users
    ramp_step_s: int = 20
    processes: int = 1
    seed: int = 42
    entities: int = 10_000
    html: bool = True  # Locust's HTML report is ~1 MB: kept for the four main scenarios only

    def samples_dir(self, out: Path) -> Path:
        """Where this run's per-process sample files go."""
        return out / f"{self.name}.samples"

    def argv(self, out: Path) -> list[str]:
        """The locust command line writing CSVs, the HTML report and the samples under ``out``."""
        files = LOCUSTFILE if self.ramp_step_users is None else f"{LOCUSTFILE},{SHAPEFILE}"
        argv = [
            sys.executable, "-m", "locust", "-f", files, "--headless", "--host", self.host,
            "--stack", self.stack, "--seed", str(self.seed), "--entities", str(self.entities),
            "--pacing-s", str(self.pacing_s), "--samples-dir", str(self.samples_dir(out)),
            "--csv", str(out / self.name), "--csv-full-history",
            "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5",
        ]  # fmt: skip
        if self.html:
            argv += ["--html", str(out / f"{self.name}.html")]
        if self.ramp_step_users is None:
            argv += ["-u", str(self.users), "-r", str(self.users), "--run-time", f"{self.duration_s}s"]
        else:
            argv += ["--step-users", str(self.ramp_step_users), "--step-s", str(self.ramp_step_s),
                     "--ramp-s", str(self.duration_s)]  # fmt: skip
        if self.processes > 1:
            argv += ["--processes", str(self.processes)]
        return argv


def live_status(history: Path) -> str:
    """Users, req/s and failures from the last line Locust wrote to its stats history (every second)."""
    try:
        header, *_, last = history.read_text().splitlines()
        row = dict(zip(header.split(","), last.split(","), strict=False))
        return f"{row['User Count']} users, {float(row['Requests/s']):.0f} req/s, {row['Total Failure Count']} failures"
    except (OSError, ValueError, KeyError):
        return "starting"


def _follow(popen: subprocess.Popen, run: LocustRun, out: Path, started: float) -> None:
    """Wait for Locust with a live bar on a terminal, or a status line every 30 s in a log."""
    history = out / f"{run.name}_stats_history.csv"
    tty = sys.stdout.isatty()
    with tqdm(total=run.duration_s, desc=f"  {run.name}", unit="s", leave=False, disable=not tty) as bar:
        last_line = started
        while popen.poll() is None:
            time.sleep(1)
            elapsed = time.monotonic() - started
            bar.n = min(run.duration_s, round(elapsed))
            bar.set_postfix_str(live_status(history), refresh=True)
            if not tty and time.monotonic() - last_line >= 30:
                print(f"    {run.name}: {elapsed:.0f}/{run.duration_s} s, {live_status(history)}", flush=True)
                last_line = time.monotonic()
            if elapsed > run.duration_s + 120:  # a hung locust must not hang the suite
                popen.kill()


def run_locust(run: LocustRun, out: Path) -> dict:
    """Run it to the end with a progress bar; return the load generator's CPU seconds and the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    samples = run.samples_dir(out)
    samples.mkdir(exist_ok=True)
    for old in samples.glob("*.jsonl"):
        old.unlink()
    log = out / f"{run.name}.locust.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with log.open("wb") as sink:
        popen = subprocess.Popen(run.argv(out), stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _follow(popen, run, out, started)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Locust exits 1 when any request failed: that is a result (counted in the stats), not a crash.
    stats = out / f"{run.name}_stats.csv"
    if not stats.exists():
        raise RuntimeError(f"locust wrote no stats (exit {popen.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return {
        "name": run.name,
        "stack": run.stack,
        "exit_code": popen.returncode,
        "wall_s": round(time.monotonic() - started, 2),
        "loadgen_cpu_s": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 3),
        "stats_csv": str(stats),
        "html": str(out / f"{run.name}.html") if run.html else None,
        "samples": sorted(str(p) for p in samples.glob("*.jsonl")),
    }


def aggregated(stats_csv: str | Path) -> dict:
    """The whole run from Locust's ``_stats.csv``: requests, failures and latency percentiles in ms."""
    with open(stats_csv) as source:
        row = next(r for r in csv.DictReader(source) if r["Name"] == "Aggregated")
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        **{f"p{pct}_ms": float(row[f"{pct}%"]) for pct in (50, 90, 99)},
        "max_ms": float(row["Max Response Time"]),
    }
