"""The registry's part of the Kubernetes manifests: ``python -m deploygen.k8s`` writes, under ``deploy/k8s/``,

- ``overlays/<stack>/commands.yaml``: each container's image, command and environment (and the job workers'
  replicas), as patches on the stack-neutral base, from ``system_launcher/registry.py`` (as for ``make up`` and
  docker-compose.yml);
- ``overlays/<stack>-load/commands.yaml``: the Locust master's and workers' commands, for the load overlays;
- ``base/settings.env``: the settings ConfigMap, every setting the registry does not set per
  container, with its default.

Everything else (probes, resources, security, the autoscaler) is plain YAML in ``deploy/k8s/base/``.
``make deploy-files`` writes them, and a test fails when the committed files are stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from deploygen.containers import (
    EDGE,
    REDIS_SERVER,
    RUNTIME,
    container_env,
    edge_command,
    edge_file,
    image,
    service_target,
    to_yaml,
)
from deploygen.env_example import SETTINGS_CLASSES, env_lines
from service_runtime.core.topology import STACKS, Stack
from system_launcher.edge import EdgeSettings
from system_launcher.registry import (
    SERVICES,
    JobWorker,
    Service,
    job_worker_argv,
    job_worker_env,
    locust_master_argv,
    locust_worker_argv,
    redis_argv,
    seed_env,
    seed_watch_argv,
    service_argv,
    stack_services,
)
from system_launcher.settings import REDIS_NAME, StackSettings

K8S_DIR = Path("deploy/k8s")
# Every service listens on this port (the base's port named http): each pod has its own address.
PORT = 8080
# And every model service serves the Open Inference Protocol over gRPC on this one (the base's port named grpc).
GRPC_PORT = 9000
EDGE_METRICS_PORT = 9901
APP_CONTAINER = "app"
EDGE_CONTAINER = "edge"
JOBS_WORKER = "jobs-worker"  # the job workers' Deployment in the base
REDIS_DATA_DIR = Path("/data")  # the base mounts Redis' PersistentVolumeClaim there
LOCUST_CONTAINER = "locust"
# Redis' password: the Secret the user creates in each stack's namespace (README), read by Redis (its --requirepass
# argument is this variable, which the kubelet expands) and by every container that reads Redis.
REDIS_SECRET = {"name": "redis-auth", "key": "password"}
REDIS_PASSWORD_REF = "$(REDIS_PASSWORD)"
# Settings whose cluster value differs from the default. The drain delay must outlast the
# readiness probe's period x failureThreshold (2 s x 3, base/service-defaults.yaml) plus the time endpoints take to
# update (a few seconds).
CLUSTER_SETTINGS = {"SERVER_DRAIN_DELAY_S": "10.0"}
GENERATED = (
    "# Generated from system_launcher/registry.py by `make deploy-files` (python -m deploygen): do not edit by hand.\n"
)


def k8s_settings(stack: Stack) -> StackSettings:
    """The registry's settings in a stack's overlay: one Service per process, named ``<stack>-<name>``, on PORT."""
    ports = {f"{svc.stack}_{svc.role}_port": PORT for svc in SERVICES}
    # Behind the edge too, scoring listens on PORT: it is a pod of its own. The edge's metrics port is the
    # base's 9901 in every pod.
    ports |= {f"{s}_scoring_backend_port": PORT for s in STACKS} | {f"{s}_edge_metrics_port": EDGE_METRICS_PORT
                                                                     for s in STACKS}  # fmt: skip
    ports |= {f"{svc.stack}_{svc.role}_grpc_port": GRPC_PORT for svc in SERVICES if svc.role != "scoring"}
    ports |= {f"{s}_jobs_worker_port": PORT for s in STACKS}  # job workers: probes and /metrics, as the services
    settings = StackSettings(bind_host="0.0.0.0", per_service_hosts=True, redis_dir=REDIS_DATA_DIR,
                             redis_password=SecretStr(REDIS_PASSWORD_REF), **ports)  # fmt: skip
    # The services' registry names already carry the stack; Redis gets it from the overlay's name prefix.
    return settings.model_copy(update={"redis_url": f"redis://{stack}-{REDIS_NAME}:{settings.redis_port}/0"})


def base_name(svc: Service) -> str:
    """The service's name in the base, before the overlay's ``<stack>-`` prefix: ``model-a``, ``scoring``."""
    return svc.name.removeprefix(f"{svc.stack}-")


def commands(stack: Stack) -> list[dict[str, Any]]:
    """Patches giving every container of a stack its image, command and environment from the registry."""
    settings = k8s_settings(stack)
    seed = _container(RUNTIME, seed_watch_argv(), seed_env(settings))
    patches = [
        _patch("apps/v1", "StatefulSet", REDIS_NAME, {"name": "redis", "args": redis_argv(REDIS_SERVER, settings)}),
        _patch("apps/v1", "Deployment", "seed", {"name": "seed", **seed}),
    ]
    for svc in stack_services(stack):
        container = _container(service_target(svc, settings), service_argv(svc, settings), container_env(svc, settings))
        patches.append(_patch("apps/v1", "Deployment", base_name(svc), {"name": APP_CONTAINER, **container}))
    edge = _container(EDGE, edge_command(), {})
    patches.append(_patch("apps/v1", "Deployment", "edge", {"name": EDGE_CONTAINER, **edge}))
    worker = _container(RUNTIME, job_worker_argv(), job_worker_env(JobWorker(stack), settings))
    patches.append(_patch("apps/v1", "Deployment", JOBS_WORKER, {"name": APP_CONTAINER, **worker},
                          replicas=settings.job_workers))  # fmt: skip
    return patches


def edge_url(stack: Stack) -> str:
    """Where the stack's clients reach it in the cluster: its edge Service (the base's ``edge``, port 8080)."""
    return f"http://{stack}-edge:{PORT}"


def load_commands(stack: Stack) -> list[dict[str, Any]]:
    """Patches giving the load overlay's Locust master and workers their commands: users go through the edge (the
    stack's NetworkPolicies admit nothing else to scoring)."""
    master_argv = locust_master_argv(edge_url(stack), stack)
    worker_argv = locust_worker_argv(f"{stack}-locust-master", stack)
    return [
        _patch("apps/v1", "Deployment", "locust-master", {"name": LOCUST_CONTAINER, "command": master_argv}),
        _patch("apps/v1", "Deployment", "locust-worker", {"name": LOCUST_CONTAINER, "command": worker_argv}),
    ]


def settings_env() -> str:
    """The settings ConfigMap's env file: every setting of every service the registry leaves to its default."""
    settings = k8s_settings("async")
    per_container = {key for svc in SERVICES for key in container_env(svc, settings)} | set(seed_env(settings))
    per_container |= set(job_worker_env(JobWorker("async"), settings))
    lines = [GENERATED.rstrip(), "# Every setting no container sets itself, with its default: see .env.example.", ""]
    for cls in SETTINGS_CLASSES:
        # The launcher's own settings (no launcher runs in the cluster) and the edge's (its configuration is
        # generated, edge-config.yaml) are read by no container.
        if cls not in (StackSettings, EdgeSettings):
            lines += [*env_lines(cls, exclude=per_container), ""]
    for name, value in CLUSTER_SETTINGS.items():
        lines = [f"# (cluster value, see deploygen/k8s.py)\n{name}={value}" if line.startswith(f"{name}=") else line
                 for line in lines]  # fmt: skip
    return "\n".join(lines)


def rendered_files() -> dict[Path, str]:
    """Every generated file, by its path from the repository root."""
    files = {K8S_DIR / "base" / "settings.env": settings_env()}
    for stack in STACKS:
        files[K8S_DIR / "overlays" / stack / "commands.yaml"] = GENERATED + to_yaml(*commands(stack))
        files[K8S_DIR / "overlays" / stack / "edge-config.yaml"] = edge_file(stack, k8s_settings(stack))
        files[K8S_DIR / "overlays" / f"{stack}-load" / "commands.yaml"] = GENERATED + to_yaml(*load_commands(stack))
    return files


def _patch(api_version: str, kind: str, name: str, container: dict[str, Any], replicas: int | None = None
           ) -> dict[str, Any]:  # fmt: skip
    # A strategic-merge patch: kustomize matches the container by name and replaces these fields.
    template = {"spec": {"containers": [container]}}
    spec = {"template": template} if replicas is None else {"replicas": replicas, "template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}


def _container(target: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    container = {"image": image(target), "command": argv}
    return container | ({"env": [_env_var(k, v) for k, v in env.items()]} if env else {})


def _env_var(name: str, value: str) -> dict[str, Any]:
    # Redis' password comes from its Secret, never from the manifests.
    if value == REDIS_PASSWORD_REF:
        return {"name": name, "valueFrom": {"secretKeyRef": REDIS_SECRET}}
    return {"name": name, "value": value}
