"""Prometheus beside ``make up`` (``make observe``): the observability pack's scrape configuration and rules, rendered
for the native stack as ``make up`` places it (the same STACK_* settings and ``.env``), served by Prometheus from
Debian's package (``make prometheus``), in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

from deploygen.observability import OBSERVABILITY_DIR, PANELS, prometheus_config
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS

ROOT = Path(__file__).resolve().parents[1]
FETCHED = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "prometheus"
RULES = ROOT / OBSERVABILITY_DIR / "rules.yml"


def find_prometheus() -> str | None:
    """Prometheus fetched by ``make prometheus``, else one on PATH."""
    if FETCHED.is_file():
        return str(FETCHED)
    return shutil.which("prometheus")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(
        prog="python -m deploygen.observe",
        description="Prometheus scraping the stack that make up runs (every service, edge and job worker, labelled "
        "by stack and role), with the pack's recording rules, until Ctrl-C. Start make up first, in another "
        "terminal, with the same settings.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    cli.add_argument("--port", type=int, default=9090, help="Prometheus' web UI and API, on 127.0.0.1")
    cli.add_argument("--data", type=Path, default=ROOT / "var" / "prometheus",
                     help="Prometheus' storage (kept at most 1 day and 256 MB)")  # fmt: skip
    return cli


def main(argv: list[str] | None = None) -> int:
    """Render the configuration and replace this process with Prometheus."""
    args = parser().parse_args(argv)
    prometheus = find_prometheus()
    if prometheus is None:
        print("observe: Prometheus not found: run `make prometheus` (Debian's package, no root)", file=sys.stderr)
        return 2
    config = args.data / "prometheus.yml"
    args.data.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(prometheus_config(StackSettings(), rules=str(RULES)), sort_keys=False))
    url = f"http://127.0.0.1:{args.port}"
    print(f"Prometheus on {url}, scraping make up's stack ({config}). Try, in its Graph tab:")
    for _, _, query in PANELS[:3]:
        print("  " + " and ".join(query.format(stack=stack) for stack in STACKS))
    print("Targets: " + url + "/targets. Ctrl-C stops it.", flush=True)
    argv_ = [prometheus, f"--config.file={config}", f"--storage.tsdb.path={args.data / 'data'}",
             "--storage.tsdb.retention.time=1d", "--storage.tsdb.retention.size=256MB",
             f"--web.listen-address=127.0.0.1:{args.port}", "--log.level=warn"]  # fmt: skip
    os.execv(prometheus, argv_)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
