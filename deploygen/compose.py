"""``docker-compose.yml``, generated from the registry (``python -m deploygen``).

Every command and environment comes from ``system_launcher/registry.py`` (as for ``make up``) with container
settings (``deploygen.platforms.compose_settings``): each process has its own host name and listens on all its
interfaces, on the same ports as natively, published on the host's loopback only.

``docker compose up`` needs nothing set. Redis always requires a password: ``REDIS_PASSWORD`` when given (the
environment or ``.env``), else one generated on the first start; the one-shot ``redis-auth`` writes it into the volume
of that name, where Redis reads its ``requirepass`` and every client its password (``REDIS_PASSWORD_FILE``).

Redis keeps its append-only file on the volume ``redis-data``, so the features and accepted jobs survive a restart of
its container; the ``seed`` service stays running and seeds again whenever the store lacks the seed's marker (healthy
only while the store is seeded); every long-running service restarts unless stopped; each stack's job workers are one
service with ``STACK_JOB_WORKERS`` replicas, their probe and metrics port not published (replicas cannot share a host
port). Each edge renders its Envoy configuration at start from the same settings as its scoring service
(``deploygen.edge_start``).

Profiles: Compose only ever leaves out services that carry a profile, so Redis, the seeding job and both stacks carry
none and ``docker compose up`` runs the whole system. The profiles add Locust (``async``: a master with workers
driving the async stack, ``sync``: the same for the sync stack, ``bench``: both), ``observability`` and ``tracing``
(Jaeger, ``deploygen.jaeger``: the services and edges export their spans to it when ``OTEL_TRACES_EXPORTER=otlp``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploygen import jaeger, observability
from deploygen.containers import (
    BENCH,
    EDGE,
    EDGE_LIMITS,
    ENTRYPOINT,
    LOCUST_LIMITS,
    REDIS_IMAGE,
    REDIS_LIMITS,
    REDIS_SERVER,
    RUNTIME,
    SERVICE_LIMITS,
    Limits,
    container_env,
    edge_start_argv,
    image,
    listener_probe_argv,
    liveness_probe_argv,
)
from deploygen.platforms import compose_settings
from deploygen.redis_auth import PASSWORD_FILE, REDIS_CONF
from deploygen.render import GENERATED, to_yaml
from job_worker.settings import WorkerSettings
from reference.settings import ServiceSettings
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
from system_launcher.topology import STACKS, Stack

COMPOSE_FILE = Path("docker-compose.yml")
PROJECT = "async-vs-sync-scoring"
REDIS_VOLUME = "redis-data"
REDIS_AUTH = "redis-auth"  # the one-shot service and its volume
REDIS_AUTH_DIR = Path("/run/redis-auth")  # where every container that needs the password mounts that volume
SEED_NAME = "seed"
LOCUST_WEB_PORT = 8089  # Locust's default web UI port inside the master's container
LOCUST_HOST_PORTS: dict[Stack, int] = {"async": 8089, "sync": 8090}
# As the manifests' securityContext (the image's user 10001 is already non-root): a read-only root filesystem with a
# /tmp in memory (gunicorn's heartbeats, prometheus-client's multiprocess files, the edge's configuration and admin
# socket), no capability, no privilege escalation. Redis keeps its image's entrypoint, which needs capabilities to hand
# /data to its user: only the last.
HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": ["/tmp:size=64m"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}
# A crashed long-running container comes back; one stopped on purpose stays stopped.
RESTART = "unless-stopped"
LOCUST_WORKERS = 2  # one per core of the 2-core machines this project is measured on
# Given or not: compose substitutes the user's REDIS_PASSWORD (environment, then .env) for the one-shot alone.
GIVEN_PASSWORD = "${REDIS_PASSWORD:-}"
# A stop waits for in-flight work to finish first: the server's graceful timeout, the workers' grace, and a margin.
STOP_MARGIN_S = 5
HEADER = f"""\
{GENERATED}
#   docker compose up                    the whole system, on the ports of `make up`; nothing to set beforehand
#   docker compose --profile async up    ... plus Locust (master + workers) driving the async stack
#   docker compose --profile sync up     ... the same for the sync stack; --profile bench: both
#   docker compose --profile observability up   ... plus Prometheus (:9090, the rules) and Grafana (:3000)
#   OTEL_TRACES_EXPORTER=otlp docker compose --profile tracing up   ... every request traced, in Jaeger (:16686)
# Settings in ./.env reach every container, as they reach every process of `make up` (.env.example lists them).
# Redis' password: REDIS_PASSWORD if set, else one generated on the first start, kept in the volume redis-auth
# (read it with: docker compose exec seed cat {REDIS_AUTH_DIR / PASSWORD_FILE}). A changed REDIS_PASSWORD takes effect
# on `docker compose up --force-recreate`.
"""


def render(settings: StackSettings | None = None) -> str:
    """The whole ``docker-compose.yml``."""
    document = {"name": PROJECT, "services": compose_services(settings or compose_settings()),
                "volumes": {REDIS_VOLUME: {}, REDIS_AUTH: {}}}  # fmt: skip
    return HEADER + to_yaml(document)


def healthcheck_argv(svc: Service, settings: StackSettings) -> list[str]:
    """A service's health probe: its liveness on its own port."""
    return liveness_probe_argv(svc.listen_port(settings))


def job_worker_healthcheck_argv(worker: JobWorker, settings: StackSettings) -> list[str]:
    """A job worker's probe: its own liveness, on its probe port."""
    return liveness_probe_argv(settings.jobs_worker_port(worker.stack, worker.index))


def edge_healthcheck_argv(stack: Stack, settings: StackSettings) -> list[str]:
    """The edge's probe: its listener answers."""
    return listener_probe_argv(settings.edge_ports(stack)["listen"])


def redis_server_argv(settings: StackSettings) -> list[str]:
    """The registry's Redis, reading first the configuration file that requires the password."""
    binary, *args = redis_argv(REDIS_SERVER, settings)
    return [binary, str(REDIS_AUTH_DIR / REDIS_CONF), *args]


def redis_healthcheck_argv() -> list[str]:
    """Redis answers PONG to a client with the password (redis-cli reads it from REDISCLI_AUTH)."""
    # $$: compose's escape of a literal $.
    return ["sh", "-c", f'REDISCLI_AUTH="$$(cat {REDIS_AUTH_DIR / PASSWORD_FILE})" redis-cli ping | grep -qx PONG']


def compose_services(settings: StackSettings) -> dict[str, dict[str, Any]]:
    """Redis' password, Redis, the seeding job, the six services, their edges, per stack its job workers, and a
    Locust master with its workers."""
    services = {
        REDIS_AUTH: {
            **_built(RUNTIME),
            # Root, for one thing only: handing each file to its reader (CHOWN), and reading the kept password back
            # (DAC_READ_SEARCH: it belongs to the image's user).
            "user": "0:0",
            "cap_add": ["CHOWN", "DAC_READ_SEARCH"],
            "command": ["python", "-m", "deploygen.redis_auth", str(REDIS_AUTH_DIR)],
            "environment": {"REDIS_PASSWORD": GIVEN_PASSWORD},
            "volumes": [f"{REDIS_AUTH}:{REDIS_AUTH_DIR}"],
        },
        REDIS_NAME: {
            "image": REDIS_IMAGE,
            "command": redis_server_argv(settings),
            "volumes": [f"{REDIS_VOLUME}:{settings.redis_dir}", _password_volume()],
            "ports": [_published(settings, settings.redis_port)],
            "healthcheck": _healthcheck(redis_healthcheck_argv()),
            "depends_on": {REDIS_AUTH: {"condition": "service_completed_successfully"}},
            "deploy": _deploy(REDIS_LIMITS),
            "security_opt": HARDENED["security_opt"],
            "restart": RESTART,
        },
        SEED_NAME: {
            **_built(RUNTIME),
            "command": seed_watch_argv(),
            **_reads_redis(seed_env(settings)),
            # Health checks run beside the command, not through the image's entrypoint: it exports the password.
            "healthcheck": _healthcheck([ENTRYPOINT, *seed_check_argv()]),
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
    # Prometheus and Grafana keep their data in their images' volumes, writable under a read-only root; Jaeger its
    # traces in memory.
    extras = observability.compose_services(settings) | jaeger.compose_services(settings)
    return services | {name: entry | HARDENED | {"restart": RESTART} for name, entry in extras.items()}


def _service(svc: Service, settings: StackSettings) -> dict[str, Any]:
    port = svc.listen_port(settings)
    grpc = [] if svc.role == "scoring" else [_published(settings, settings.grpc_port(svc.stack, svc.role))]
    entry = {
        **_built(RUNTIME),
        "command": service_argv(svc, settings),
        **_reads_redis(container_env(svc, settings) | jaeger.TRACING_ENV),
        "ports": [_published(settings, port), *grpc],
        "healthcheck": _healthcheck(healthcheck_argv(svc, settings)),
        "deploy": _deploy(SERVICE_LIMITS),
        # In-flight requests finish (gunicorn's graceful timeout) before the container is killed.
        "stop_grace_period": _stop_grace(ServiceSettings.model_fields["graceful_timeout_s"].default),
        "restart": RESTART,
    }
    if svc.role == "scoring":
        entry["depends_on"] = _scoring_dependencies(svc.stack)
    return entry


def _scoring_dependencies(stack: Stack) -> dict[str, dict[str, str]]:
    """What scoring code needs healthy before it starts: Redis, seeded, and its stack's two models."""
    return {
        REDIS_NAME: {"condition": "service_healthy"},
        SEED_NAME: {"condition": "service_healthy"},
        service(stack, "model_a").name: {"condition": "service_healthy"},
        service(stack, "model_b").name: {"condition": "service_healthy"},
    }


def _job_worker(worker: JobWorker, settings: StackSettings) -> dict[str, Any]:
    """A stack's job workers: ``STACK_JOB_WORKERS`` replicas of one container, each its own consumer."""
    return {
        **_built(RUNTIME),
        "command": job_worker_argv(),
        **_reads_redis(job_worker_env(worker, settings)),
        "healthcheck": _healthcheck(job_worker_healthcheck_argv(worker, settings)),
        "depends_on": _scoring_dependencies(worker.stack),
        "deploy": {"replicas": settings.job_workers, **_deploy(SERVICE_LIMITS)},
        # The jobs in hand finish (WORKER_GRACE_S) before the container is killed.
        "stop_grace_period": _stop_grace(WorkerSettings.model_fields["grace_s"].default),
        "restart": RESTART,
    }


def _edge(stack: Stack, settings: StackSettings) -> dict[str, Any]:
    """Envoy in front of a stack's scoring service, on the port users know, with its metrics port; its configuration
    rendered at start from the settings its scoring service reads (``.env`` and the same environment)."""
    ports = settings.edge_ports(stack)
    return {
        **_built(EDGE),
        "command": edge_start_argv("compose", stack),
        "environment": jaeger.TRACING_ENV,
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


def _reads_redis(env: dict[str, str]) -> dict[str, Any]:
    """The environment of a container; one that reads Redis gets the password's volume and its file's path."""
    if "REDIS_URL" not in env:
        return {"environment": env}
    return {"environment": env | {"REDIS_PASSWORD_FILE": str(REDIS_AUTH_DIR / PASSWORD_FILE)},
            "volumes": [_password_volume()]}  # fmt: skip


def _password_volume() -> str:
    return f"{REDIS_AUTH}:{REDIS_AUTH_DIR}:ro"


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


def _stop_grace(seconds: float) -> str:
    return f"{round(seconds) + STOP_MARGIN_S}s"
