"""``docker-compose.yml``, generated from the registry: ``python -m deploygen.compose > docker-compose.yml``.

Every command and environment comes from ``system_launcher/registry.py`` (as for ``make up``) with container
settings: each process has its own host name and listens on all its interfaces, on the same ports
as natively, published on the host's loopback only. ``make deploy-files`` rewrites the file and a
test fails when the committed one is stale.

Redis keeps its append-only file on the named volume ``redis-data``, so the features and accepted jobs survive a
restart of its container; the ``seed`` service stays running and seeds again whenever the store lacks the seed's
marker (healthy only while the store is seeded); every long-running service restarts unless stopped; each stack's
job workers are one service with ``STACK_JOB_WORKERS`` replicas, their probe and metrics port not published
(replicas cannot share a host port).

Profiles: Compose only ever leaves out services that carry a profile, so Redis, the seeding job and
both stacks carry none and ``docker compose up`` runs the whole system. The profiles add Locust:
``async`` a master with workers driving the async stack, ``sync`` the same for the sync stack,
``bench`` both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from deploygen import observability
from deploygen.containers import (
    BENCH,
    EDGE,
    EDGE_CONFIG_PATH,
    EDGE_LIMITS,
    LOCUST_LIMITS,
    REDIS_IMAGE,
    REDIS_LIMITS,
    REDIS_SERVER,
    RUNTIME,
    SERVICE_LIMITS,
    Limits,
    container_env,
    edge_command,
    image,
    service_target,
    to_yaml,
)
from service_runtime.core.topology import HEALTHCHECK_PATH, STACKS, Stack
from system_launcher.registry import (
    EDGES,
    SERVICES,
    JobWorker,
    Service,
    job_worker_argv,
    job_worker_env,
    locust_master_argv,
    locust_worker_argv,
    redis_argv,
    seed_check_argv,
    seed_env,
    seed_watch_argv,
    service,
    service_argv,
)
from system_launcher.settings import REDIS_NAME, StackSettings

PROJECT = "async-vs-sync-scoring"
EDGE_DIR = Path("deploy/edge")
REDIS_VOLUME = "redis-data"
REDIS_DATA_DIR = Path("/data")  # the official image's working directory
SEED_NAME = "seed"
# Redis requires a password, as in Kubernetes; compose substitutes the user's REDIS_PASSWORD (environment or .env)
# and refuses to start without one, with this message.
REDIS_PASSWORD = "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env or the environment, see the README}"
LOCUST_WEB_PORT = 8089  # Locust's default web UI port inside the master's container
LOCUST_HOST_PORTS: dict[Stack, int] = {"async": 8089, "sync": 8090}
# As the manifests' securityContext (the image's user 10001 is already non-root): a read-only root filesystem with a
# /tmp in memory (gunicorn's heartbeats, prometheus-client's multiprocess files), no capability, no privilege
# escalation. Redis keeps its image's entrypoint, which needs capabilities to hand /data to its user: only the last.
HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": ["/tmp:size=64m"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}
# A crashed long-running container comes back; one stopped on purpose stays stopped.
RESTART = "unless-stopped"
LOCUST_WORKERS = 2  # one per core of the 2-core machines this project is measured on
HEADER = """\
# Generated from system_launcher/registry.py by `make deploy-files` (python -m deploygen): do not edit by hand.
#   docker compose up                    the whole system, on the ports of `make up`
#   docker compose --profile async up    ... plus Locust (master + workers) driving the async stack
#   docker compose --profile sync up     ... the same for the sync stack; --profile bench: both
#   docker compose --profile observability up   ... plus Prometheus (:9090, the rules) and Grafana (:3000)
# Settings in ./.env reach every container, as they reach every process of `make up`.
"""


def compose_settings() -> StackSettings:
    """The registry's settings in compose: one host name per container, each listening on all interfaces, Redis'
    files on its volume, its password from the ``REDIS_PASSWORD`` the user sets."""
    return StackSettings(bind_host="0.0.0.0", per_service_hosts=True, redis_dir=REDIS_DATA_DIR,
                         redis_password=SecretStr(REDIS_PASSWORD))  # fmt: skip


def healthcheck_argv(svc: Service, settings: StackSettings) -> list[str]:
    """A health probe the image can run without curl: ``urlopen`` raises, so exits non-zero, on anything but 2xx."""
    return _probe(settings.listen_port(svc.stack, svc.role))


def job_worker_healthcheck_argv(worker: JobWorker, settings: StackSettings) -> list[str]:
    """A job worker's probe: its own liveness, on its probe port."""
    return _probe(settings.jobs_worker_port(worker.stack, worker.index))


def edge_healthcheck_argv(stack: Stack, settings: StackSettings) -> list[str]:
    """The edge's probe: liveness of its scoring service, through the edge (so it proves the edge forwards)."""
    return _probe(settings.port(stack, "scoring"))


def _probe(port: int) -> list[str]:
    url = f"http://127.0.0.1:{port}{HEALTHCHECK_PATH}"
    return ["python", "-c", f'import urllib.request; urllib.request.urlopen("{url}", timeout=2)']


def edge_config_file(stack: Stack) -> Path:
    """The generated configuration of a stack's edge in compose, from the repository root."""
    return EDGE_DIR / f"{stack}.yaml"


def render(settings: StackSettings | None = None) -> str:
    """The whole ``docker-compose.yml``."""
    document = {"name": PROJECT, "services": compose_services(settings or compose_settings()),
                "volumes": {REDIS_VOLUME: {}}}  # fmt: skip
    return HEADER + to_yaml(document)


def compose_services(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Redis, the seeding job, the six services, per stack its job workers, and a Locust master with its workers."""
    services = {
        REDIS_NAME: {
            "image": REDIS_IMAGE,
            "command": redis_argv(REDIS_SERVER, settings),
            "volumes": [f"{REDIS_VOLUME}:{settings.redis_dir}"],
            "ports": [_published(settings, settings.redis_port)],
            "environment": {"REDISCLI_AUTH": REDIS_PASSWORD},  # the health probe's redis-cli authenticates
            "healthcheck": _healthcheck(["redis-cli", "ping"]),
            "deploy": _deploy(REDIS_LIMITS),
            "security_opt": HARDENED["security_opt"],
            "restart": RESTART,
        },
        SEED_NAME: {
            **_built(RUNTIME),
            "command": seed_watch_argv(),
            "environment": seed_env(settings),
            "healthcheck": _healthcheck(seed_check_argv()),
            "depends_on": {REDIS_NAME: {"condition": "service_healthy"}},
            # Seeds at start and again whenever the store is found unseeded; it ends with exit 0 on SIGTERM.
            "restart": RESTART,
        },
    }
    for svc in SERVICES:
        services[svc.name] = _service(svc, settings)
    if settings.edge:
        for edge in EDGES:
            services[edge.name] = _edge(edge.stack, settings)
    if settings.job_workers:
        for stack in STACKS:
            worker = JobWorker(stack)
            services[worker.kind] = _job_worker(worker, settings)
    for stack in STACKS:
        services |= _locust(stack, settings)
    # Prometheus and Grafana keep their data in their images' volumes, writable under a read-only root.
    return services | {name: entry | HARDENED | {"restart": RESTART}
                       for name, entry in observability.compose_services(settings).items()}  # fmt: skip


def _service(svc: Service, settings: StackSettings) -> dict[str, Any]:
    port = settings.listen_port(svc.stack, svc.role)
    entry = {
        **_built(service_target(svc, settings)),
        "command": service_argv(svc, settings),
        "environment": container_env(svc, settings),
        "ports": [_published(settings, port)]
        + ([] if svc.role == "scoring" else [_published(settings, settings.grpc_port(svc.stack, svc.role))]),
        "healthcheck": _healthcheck(healthcheck_argv(svc, settings)),
        "deploy": _deploy(SERVICE_LIMITS),
        # Longer than gunicorn's graceful timeout (SERVER_GRACEFUL_TIMEOUT_S, 10 s): in-flight requests finish.
        "stop_grace_period": "15s",
        "restart": RESTART,
    }
    if svc.role == "scoring":
        entry["depends_on"] = {
            REDIS_NAME: {"condition": "service_healthy"},
            SEED_NAME: {"condition": "service_healthy"},
            service(svc.stack, "model_a").name: {"condition": "service_healthy"},
            service(svc.stack, "model_b").name: {"condition": "service_healthy"},
        }
    return entry


def _job_worker(worker: JobWorker, settings: StackSettings) -> dict[str, Any]:
    """A stack's job workers: ``STACK_JOB_WORKERS`` replicas of one container, each its own consumer."""
    return {
        **_built(RUNTIME),
        "command": job_worker_argv(),
        "environment": job_worker_env(worker, settings),
        "healthcheck": _healthcheck(job_worker_healthcheck_argv(worker, settings)),
        "depends_on": {
            REDIS_NAME: {"condition": "service_healthy"},
            SEED_NAME: {"condition": "service_healthy"},
            service(worker.stack, "model_a").name: {"condition": "service_healthy"},
            service(worker.stack, "model_b").name: {"condition": "service_healthy"},
        },
        "deploy": {"replicas": settings.job_workers, **_deploy(SERVICE_LIMITS)},
        # Longer than WORKER_GRACE_S (10 s): the jobs in hand finish.
        "stop_grace_period": "15s",
        "restart": RESTART,
    }


def _edge(stack: Stack, settings: StackSettings) -> dict[str, Any]:
    """Envoy in front of a stack's scoring service, on the port users know, with its metrics port."""
    ports = settings.edge_ports(stack)
    return {
        **_built(EDGE),
        "command": edge_command(),
        "volumes": [f"./{edge_config_file(stack)}:{EDGE_CONFIG_PATH}:ro"],
        "ports": [_published(settings, ports["listen"]), _published(settings, ports["metrics"])],
        "healthcheck": _healthcheck(edge_healthcheck_argv(stack, settings)),
        "depends_on": {service(stack, "scoring").name: {"condition": "service_healthy"}},
        "deploy": _deploy(EDGE_LIMITS),
        "restart": RESTART,
    }


def _locust(stack: Stack, settings: StackSettings) -> dict[str, dict[str, Any]]:
    scoring = service(stack, "scoring")
    entry = f"{stack}-edge" if settings.edge else scoring.name
    master = f"locust-{stack}-master"
    profiles = [stack, "bench"]
    return {
        master: {
            **_built(BENCH),
            "profiles": profiles,
            "command": locust_master_argv(scoring.url(settings), stack),
            "ports": [f"{settings.host}:{LOCUST_HOST_PORTS[stack]}:{LOCUST_WEB_PORT}"],
            "depends_on": {entry: {"condition": "service_healthy"}},
            "deploy": _deploy(LOCUST_LIMITS),
        },
        f"locust-{stack}-worker": {
            **_built(BENCH),
            "profiles": profiles,
            "command": locust_worker_argv(master, stack),
            "depends_on": {master: {"condition": "service_started"}},
            "deploy": {"replicas": LOCUST_WORKERS, **_deploy(LOCUST_LIMITS)},
        },
    }


def _built(target: str) -> dict[str, Any]:
    """This project's image, built from the Dockerfile's ``target``; ``.env`` settings if the file exists; the
    Kubernetes pods' security settings that compose can express."""
    return {
        "image": image(target),
        "build": {"context": ".", "target": target},
        "env_file": [{"path": ".env", "required": False}],
        **HARDENED,
    }


def _published(settings: StackSettings, port: int) -> str:
    # On the host's STACK_HOST (loopback by default), like `make up`: nothing is exposed to the network.
    return f"{settings.host}:{port}:{port}"


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {"test": ["CMD", *test], "interval": "2s", "timeout": "3s", "retries": 30}


def _deploy(limits: Limits) -> dict[str, Any]:
    return {"resources": {"limits": {"cpus": str(limits.cpus), "memory": f"{limits.memory_mib}M"}}}
