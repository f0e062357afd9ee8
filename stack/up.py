"""``make up``: start Redis, seed it, start all six services, print curl lines, stay in the foreground.

Ctrl-C or SIGTERM stops every process it started; nothing is left listening.
"""

from __future__ import annotations

import signal
import sys
import threading

from common.routes import HEALTHCHECK_PATH
from stack.services import SERVICES, service
from stack.settings import StackSettings
from stack.supervisor import StartError, Supervisor


def curl_lines(settings: StackSettings) -> list[str]:
    """Ready-to-paste commands for every endpoint of the running system."""
    json = "-H 'Content-Type: application/json'"
    lines = ["# score a seeded entity (ids 0..9999), async then sync"]
    for stack in ("async", "sync"):
        url = service(stack, "scoring").predict_url(settings)
        lines.append(f"""curl -s {json} -d '{{"entity_id": "42"}}' {url}""")
    lines.append("# the original study's body: the features themselves, on its four ports")
    for stack in ("async", "sync"):
        for role in ("scoring", "model_a"):
            lines.append(f"curl -s {json} -d '[5.1, 3.5, 1.4, 0.2]' {service(stack, role).predict_url(settings)}")
    lines.append('# model_b takes {"features": [...]} as well')
    for stack in ("async", "sync"):
        url = service(stack, "model_b").predict_url(settings)
        lines.append(f"""curl -s {json} -d '{{"features": [5.1, 3.5, 1.4, 0.2]}}' {url}""")
    lines.append("# liveness of every service, and the async stack's OpenAPI page")
    for svc in SERVICES:
        lines.append(f"curl -s {svc.url(settings, HEALTHCHECK_PATH)}")
    lines.append(f"# open {service('async', 'scoring').url(settings, '/docs')} in a browser")
    return lines


def main() -> int:
    """Run the system until Ctrl-C or SIGTERM."""
    settings = StackSettings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(settings)
    try:
        supervisor.start()
    except (StartError, OSError) as exc:
        print(f"\nmake up failed: {exc}", file=sys.stderr)
        return 1
    print("\nall six services are healthy. Try:\n")
    print("\n".join(curl_lines(settings)))
    print(f"\nlogs: {settings.log_dir}/<service>.log. Ctrl-C stops everything.", flush=True)
    while not stop.wait(1.0):
        if dead := supervisor.exited():
            names = ", ".join(p.name for p in dead)
            print(f"\n{names} stopped unexpectedly; see {settings.log_dir}. Stopping everything.", file=sys.stderr)
            supervisor.stop()
            return 1
    print("\nstopping...", flush=True)
    supervisor.stop()
    print("stopped: nothing left running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
