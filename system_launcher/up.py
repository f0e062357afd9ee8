"""``make up`` (``python -m system_launcher``): start Redis, seed it, start all six services and the job workers, stay
in the foreground.

A process that dies is restarted after a backoff (and the launcher says so). Any number of SIGINT or SIGTERM stops
every process it started; nothing is left listening. Its children die with it even if it is SIGKILLed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from dotenv import dotenv_values
from pydantic import ValidationError

from reference.api import HEALTH_PATH, METRICS_PATH, READY_PATH, predict_path
from system_launcher.backoff import RestartBackoff
from system_launcher.edge import EnvoyNotFound
from system_launcher.make_parent import watch_make_parent
from system_launcher.redis_server import RedisServerNotFound
from system_launcher.registry import SERVICES, InvalidSetting, edge_plan, service, setting_errors
from system_launcher.settings import StackSettings
from system_launcher.supervisor import Interrupted, StartError, Supervisor
from system_launcher.topology import STACKS
from system_launcher.user_env import refusal_message, refused_settings


def curl_lines(settings: StackSettings) -> list[str]:
    """Ready-to-paste commands for the running system."""
    json = "-H 'Content-Type: application/json'"
    lines = ["# score a seeded entity (ids 0..9999), async then sync"]
    for stack in STACKS:
        url = service(stack, "scoring").predict_url(settings)
        lines.append(f"""curl -s {json} -d '{{"entity_id": "42"}}' {url}""")
    lines.append("# or a feature vector given whole; and one model alone")
    for stack in STACKS:
        lines.append(f"""curl -s {json} -d '{{"features": [5.1, 3.5, 1.4, 0.2]}}' """
                     f"{service(stack, 'scoring').predict_url(settings)}")  # fmt: skip
    for stack in STACKS:
        lines.append(f"""curl -s {json} -d '{{"features": [5.1, 3.5, 1.4, 0.2]}}' """
                     f"{service(stack, 'model_a').predict_url(settings)}")  # fmt: skip
    if settings.job_workers:
        lines.append("# job mode: submit now (202, a job id and its Location), read the result later")
        for stack in STACKS:
            url = service(stack, "scoring").url(settings, f"/api/v1/ml/{stack}/jobs")
            lines.append(f"""curl -s -i {json} -H 'Idempotency-Key: try-42' -d '{{"entity_id": "42"}}' {url}""")
    lines.append("# the Open Inference Protocol: REST on the models' ports, gRPC beside them (tritonclient, grpcurl)")
    oip_body = '{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'
    for stack in STACKS:
        model_a = service(stack, "model_a")
        lines.append(f"curl -s {json} -d '{oip_body}' {model_a.url(settings, '/v2/models/model_a/infer')}")
    lines.append("# readiness (Redis and both models) and Prometheus metrics of the scoring services")
    for stack in STACKS:
        scoring = service(stack, "scoring")
        lines.append(f"curl -s {scoring.url(settings, READY_PATH)}")
        lines.append(f"curl -s {scoring.url(settings, METRICS_PATH)} | grep http_requests_total")
    lines.append("# liveness of every service (scoring through its edge, when the edge is on)")
    lines += [f"curl -s {svc.url(settings, HEALTH_PATH)}" for svc in SERVICES]
    if settings.edge:
        lines.append("# the scoring servers themselves, the edge bypassed")
        for stack in STACKS:
            url = service(stack, "scoring").direct_url(settings, predict_path(stack))
            lines.append(f"""curl -s {json} -d '{{"entity_id": "42"}}' {url}""")
    docs = " and ".join(service(stack, "scoring").url(settings, "/docs") for stack in STACKS)
    lines.append(f"# each service's OpenAPI document at /openapi.json; API docs: open {docs}")
    return lines


def parser() -> argparse.ArgumentParser:
    """The command line: no options; every setting comes from STACK_* variables or .env."""
    return argparse.ArgumentParser(
        prog="python -m system_launcher",
        description="Start Redis, seed it, start all six services and each stack's job workers, print curl lines "
        "and stay in the foreground; Ctrl-C or SIGTERM stops every process it started.",
        epilog="Settings: STACK_* environment variables or .env (ports, Redis URL, each stack's server and the sync "
        "worker class, job workers, log dir); "
        "see .env.example.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def main(argv: list[str] | None = None, early_signals: list[int] | None = None) -> int:
    """Run the system until SIGINT or SIGTERM, restarting (with backoff) any process that dies; ``early_signals``
    (those received before this function ran) stop it as soon as its handler is in place."""
    parser().parse_args(argv)
    try:
        settings = StackSettings()
    except ValidationError as exc:
        print(f"make up: invalid setting, nothing started: {setting_errors(StackSettings, exc)}", file=sys.stderr)
        return 2
    refused = refused_settings(settings, os.environ, dotenv_values(".env") if os.path.exists(".env") else {})
    if refused:
        print(refusal_message(refused), file=sys.stderr)
        return 2
    supervisor = Supervisor(settings, keep_seeded=True)
    stop = StopRequest(supervisor)
    # Installed explicitly for both signals: a background job of a script inherits SIGINT as ignored. The handler only
    # sets flags, so no second signal (GNU make forwards them) can ever abort the stop below.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for signum in early_signals or []:
        stop(signum, None)
    # A signal that reached make alone (see make_parent) stops us as if it had reached us.
    threading.Thread(target=watch_make_parent, args=(lambda sig: stop(sig, None), lambda: stop.signals > 0),
                     name="make-parent", daemon=True).start()  # fmt: skip
    code = 0
    try:
        if settings.edge:  # the settings the launcher reads for the services, checked before anything starts
            for stack in STACKS:
                edge_plan(stack, settings)
        supervisor.start()
        edges = " behind their edges" if settings.edge else ""
        servers = "; ".join(f"{stack}: {settings.server_label(stack)}" for stack in STACKS)
        print(f"\nall six services are healthy{edges} ({servers}), with {settings.job_workers} job workers per stack. "
              "Try:\n")  # fmt: skip
        print("\n".join(curl_lines(settings)))
        print(f"\nlogs: {settings.log_dir}/<service>.log. Ctrl-C stops everything.", flush=True)
        keep_running(supervisor, stop, RestartBackoff())
        print("\nstopping...", flush=True)
    except Interrupted:
        print("\nstopping...", flush=True)
    except InvalidSetting as exc:
        print(f"\nmake up failed: invalid setting: {exc}", file=sys.stderr)
        code = 2
    except (StartError, EnvoyNotFound, RedisServerNotFound, OSError) as exc:
        print(f"\nmake up failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        supervisor.stop()
    # Checked, not assumed: every process group it started, and every port of the system.
    if left := supervisor.leftovers():
        print("stopped, but still running:\n  " + "\n  ".join(left), file=sys.stderr, flush=True)
        return 1
    print("stopped: nothing left running.", flush=True)
    return code


class StopRequest:
    """The SIGINT/SIGTERM handler: counts the signals and interrupts a start in progress; never raises."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.signals = 0

    def __call__(self, signum, frame) -> None:
        self.signals += 1
        self.supervisor.interrupt()


def keep_running(supervisor: Supervisor, stop: StopRequest, backoff: RestartBackoff, tick_s: float = 0.2) -> None:
    """Until a stop is requested: restart each process that exited (or edge that stopped listening), after its
    backoff, and say so."""
    due: dict[str, float] = {}  # dead process name -> when to restart it
    next_edge_check = 0.0
    while not stop.signals:
        now = time.monotonic()
        if now >= next_edge_check:
            supervisor.check_edges()
            next_edge_check = now + 1.0
        for process in supervisor.exited():
            if process.name not in due:
                supervisor.reap(process)
                delay = backoff.delay(process.name, now - process.started)
                print(f"{process.name} exited with code {process.popen.returncode}; restarting it in {delay:.0f}s "
                      f"(death {backoff.restarts(process.name)} in a row; log: {process.log})",
                      file=sys.stderr, flush=True)  # fmt: skip
                due[process.name] = now + delay
        for name, when in list(due.items()):
            if now >= when and not stop.signals:
                try:
                    supervisor.restart(name)
                    print(f"{name} restarted", file=sys.stderr, flush=True)
                except OSError as exc:  # its next death check schedules another try
                    print(f"{name} could not be restarted: {exc}", file=sys.stderr, flush=True)
                del due[name]
        time.sleep(tick_s)
