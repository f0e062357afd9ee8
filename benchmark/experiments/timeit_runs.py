"""timeit: N = 1..K sequential validated calls, R repetitions each, for both stacks; CSV of every timing."""

from __future__ import annotations

import csv
import timeit
from pathlib import Path

from tqdm import tqdm

from benchmark.load.client import ScoringClient
from benchmark.settings import BenchSettings
from benchmark.stacks.running import running_stack
from system_launcher.topology import STACKS


def _calls(client: ScoringClient, n: int):
    return lambda: [client.score() for _ in range(n)]


def run_timeit(settings: BenchSettings, out: Path, say=print) -> Path:
    """Time N sequential calls (N = 1..K, R times each) against each stack, one stack running at a time."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for stack_name in STACKS:
        with running_stack(stack_name, say=say) as stack:
            client = ScoringClient(stack.predict_url(), settings.request_timeout_s, settings.seed, settings.entities)
            try:
                client.warm_up()  # the connection open, first-call costs paid, outside the timings
                total = settings.timeit_max_n * settings.timeit_repeat
                with tqdm(total=total, desc=f"  timeit {stack_name}", leave=False, disable=None) as bar:
                    for n in range(1, settings.timeit_max_n + 1):
                        calls = _calls(client, n)
                        for rep, seconds in enumerate(timeit.repeat(calls, number=1, repeat=settings.timeit_repeat)):
                            rows.append({"stack": stack_name, "n": n, "repetition": rep, "seconds": seconds})
                            bar.update(1)
            finally:
                client.close()
    path = out / "timeit.csv"
    with path.open("w", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=["stack", "n", "repetition", "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    say(f"  timeit: {len(rows)} timings -> {path}")
    return path
