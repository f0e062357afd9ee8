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

from service_runtime.core.topology import (
    DOCS_PATH,
    HEALTHCHECK_PATH,
    METRICS_PATH,
    READINESS_PATH,
    STACKS,
    jobs_path,
    oip_infer_path,
    predict_path,
)
from system_launcher.backoff import RestartBackoff
from system_launcher.edge import METRICS_PATH as EDGE_METRICS_PATH
from system_launcher.edge import EnvoyNotFound
from system_launcher.make_parent import watch_make_parent
from system_launcher.redis_server import RedisServerNotFound
from system_launcher.registry import SERVICES, job_workers, service
from system_launcher.settings import StackSettings
from system_launcher.supervisor import Interrupted, StartError, Supervisor
from system_launcher.user_env import refusal_message, refused_settings


def curl_lines(settings: StackSettings) -> list[str]:
    """Ready-to-paste commands for every endpoint of the running system."""
    json = "-H 'Content-Type: application/json'"
    lines = ["# score a seeded entity (ids 0..9999), async then sync"]
    for stack in STACKS:
        url = service(stack, "scoring").predict_url(settings)
        lines.append(f"""curl -s {json} -d '{{"entity_id": "42"}}' {url}""")
    lines.append("# the original study's body: the features themselves, on its four ports")
    for stack in STACKS:
        for role in ("scoring", "model_a"):
            lines.append(f"curl -s {json} -d '[5.1, 3.5, 1.4, 0.2]' {service(stack, role).predict_url(settings)}")
    if settings.job_workers:
        lines.append("# job mode: submit now (202, a job id and its Location), read the result later")
        for stack in STACKS:
            url = service(stack, "scoring").url(settings, jobs_path(stack))
            lines.append(f"""curl -s -i {json} -H 'Idempotency-Key: try-42' -d '{{"entity_id": "42"}}' {url}""")
            lines.append(f"curl -s {url}/<job_id>   # and curl -s -X DELETE ... cancels it while queued")
        lines.append("# each job worker's health, and its metrics (queue depth, oldest job, done/failed/reclaimed)")
        for worker in job_workers(settings):
            lines.append(f"curl -s {worker.url(settings, METRICS_PATH)} | grep ^jobs_")
    lines.append('# model_b takes {"features": [...]} as well')
    for stack in STACKS:
        url = service(stack, "model_b").predict_url(settings)
        lines.append(f"""curl -s {json} -d '{{"features": [5.1, 3.5, 1.4, 0.2]}}' {url}""")
    lines.append("# the Open Inference Protocol: REST on the models' ports, gRPC beside them (tritonclient, grpcurl)")
    oip_body = '{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'
    for stack in STACKS:
        model_a = service(stack, "model_a")
        lines.append(f"curl -s {json} -d '{oip_body}' {model_a.url(settings, oip_infer_path('model_a'))}")
        lines.append(f"grpcurl -plaintext -d '{{\"name\": \"model_a\"}}' {model_a.grpc_target(settings)} "
                     "inference.GRPCInferenceService/ModelMetadata")  # fmt: skip
    lines.append("# liveness of every service (scoring through its edge, when the edge is on)")
    for svc in SERVICES:
        lines.append(f"curl -s {svc.url(settings, HEALTHCHECK_PATH)}")
    if settings.edge:
        lines.append("# the scoring servers themselves, the edge bypassed; and each edge's Prometheus metrics")
        for stack in STACKS:
            lines.append(f"""curl -s {json} -d '{{"entity_id": "42"}}' """
                         f"{service(stack, 'scoring').direct_url(settings, predict_path(stack))}")  # fmt: skip
        for stack in STACKS:
            metrics = f"http://{settings.host}:{settings.edge_ports(stack)['metrics']}{EDGE_METRICS_PATH}"
            lines.append(f"curl -s {metrics} | grep upstream_rq_total")
    lines.append("# readiness (checks Redis and both models) and Prometheus metrics of the scoring services")
    for stack in STACKS:
        scoring = service(stack, "scoring")
        lines.append(f"curl -s {scoring.url(settings, READINESS_PATH)}")
        lines.append(f"curl -s {scoring.url(settings, METRICS_PATH)} | grep http_requests_total")
    docs = " and ".join(service(stack, "scoring").url(settings, DOCS_PATH) for stack in STACKS)
    lines.append(f"# API docs: open {docs} in a browser")
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
    settings = StackSettings()
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
    try:
        supervisor.start()
        edges = " behind their edges" if settings.edge else ""
        servers = "; ".join(f"{stack}: {settings.server_label(stack)}" for stack in STACKS)
        print(f"\nall six services are healthy{edges} ({servers}), with {settings.job_workers} job workers per stack. "
              "Try:\n")  # fmt: skip
        print("\n".join(curl_lines(settings)))
        print(f"\nlogs: {settings.log_dir}/<service>.log. Ctrl-C stops everything.", flush=True)
        keep_running(supervisor, stop, RestartBackoff())
        print("\nstopping...", flush=True)
        return 0
    except Interrupted:
        print("\nstopping...", flush=True)
        return 0
    except (StartError, EnvoyNotFound, RedisServerNotFound, OSError) as exc:
        print(f"\nmake up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        supervisor.stop()
        print("stopped: nothing left running.", flush=True)


class StopRequest:
    """The SIGINT/SIGTERM handler: counts the signals and interrupts a start in progress; never raises."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.signals = 0

    def __call__(self, signum, frame) -> None:
        self.signals += 1
        self.supervisor.interrupt()


def keep_running(supervisor: Supervisor, stop: StopRequest, backoff: RestartBackoff, tick_s: float = 0.2) -> None:
    """Until a stop is requested: restart each process that exited, after its backoff, and say so."""
    due: dict[str, float] = {}  # dead process name -> when to restart it
    while not stop.signals:
        now = time.monotonic()
        for process in supervisor.exited():
            if process.name not in due:
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
