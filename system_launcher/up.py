"""``make up`` (``python -m system_launcher``): start Redis, seed it, start all six services and the job workers, stay
in the foreground.

Ctrl-C or SIGTERM stops every process it started; nothing is left listening.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

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
from system_launcher.edge import METRICS_PATH as EDGE_METRICS_PATH
from system_launcher.edge import EnvoyNotFound
from system_launcher.redis_server import RedisServerNotFound
from system_launcher.registry import SERVICES, job_workers, service
from system_launcher.settings import StackSettings
from system_launcher.supervisor import StartError, Supervisor


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


def main(argv: list[str] | None = None) -> int:
    """Run the system until Ctrl-C or SIGTERM."""
    parser().parse_args(argv)
    settings = StackSettings()
    # SIGTERM behaves like Ctrl-C. (Raising from the handler, rather than setting a
    # threading.Event, cannot deadlock with a main thread waiting on that Event.)
    signal.signal(signal.SIGTERM, _interrupt)
    supervisor = Supervisor(settings)
    try:
        supervisor.start()
        edges = " behind their edges" if settings.edge else ""
        servers = "; ".join(f"{stack}: {settings.server_label(stack)}" for stack in STACKS)
        print(f"\nall six services are healthy{edges} ({servers}), with {settings.job_workers} job workers per stack. "
              "Try:\n")  # fmt: skip
        print("\n".join(curl_lines(settings)))
        print(f"\nlogs: {settings.log_dir}/<service>.log. Ctrl-C stops everything.", flush=True)
        while not (dead := supervisor.exited()):
            time.sleep(0.5)
        names = ", ".join(p.name for p in dead)
        print(f"\n{names} stopped unexpectedly; see {settings.log_dir}. Stopping everything.", file=sys.stderr)
        return 1
    except (StartError, EnvoyNotFound, RedisServerNotFound, OSError) as exc:
        print(f"\nmake up failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        # Ignore further Ctrl-C while stopping, so a second press cannot leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop()
        print("stopped: nothing left running.", flush=True)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
