"""The registry's part of the Kubernetes manifests: ``python -m deploygen`` writes, under ``deploy/k8s/``,

- ``overlays/<stack>/commands.yaml``: each container's image, command and environment (and the job workers'
  replicas), as patches on the stack-neutral base, from ``system_launcher/registry.py`` (as for ``make up`` and
  docker-compose.yml); the edge's command renders its configuration at start from the settings ConfigMap;
- ``overlays/<stack>-load/commands.yaml``: the Locust master's and workers' commands, for the load overlays;
- ``base/settings.env``: the settings ConfigMap: the production settings (those of ``.env.example``) that no
  container sets itself, with their defaults. No lab knob: the lab runs ``make up``.

Everything else (probes, resources, security, the autoscaler) is plain YAML in ``deploy/k8s/base/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploygen.containers import (
    EDGE,
    REDIS_SERVER,
    RUNTIME,
    container_env,
    edge_start_argv,
    image,
    listener_probe_argv,
)
from deploygen.env_files import env_lines
from deploygen.platforms import K8S_PORT, K8S_REDIS_PASSWORD_REF, k8s_settings
from deploygen.render import GENERATED, to_yaml
from deploygen.settings_catalog import settings
from system_launcher.registry import (
    SERVICES,
    JobWorker,
    Service,
    job_worker_argv,
    job_worker_env,
    locust_master_argv,
    locust_worker_argv,
    redis_argv,
    redis_env,
    seed_env,
    seed_watch_argv,
    service_argv,
    stack_services,
)
from system_launcher.settings import REDIS_NAME
from system_launcher.topology import STACKS, Stack

K8S_DIR = Path("deploy/k8s")
APP_CONTAINER = "app"
EDGE_CONTAINER = "edge"
JOBS_WORKER = "jobs-worker"  # the job workers' Deployment in the base
LOCUST_CONTAINER = "locust"
# Redis' password: the Secret the user creates in each stack's namespace (README), read by Redis (its --requirepass
# argument is $(REDIS_PASSWORD), which the kubelet expands) and by every container that reads Redis.
REDIS_SECRET = {"name": "redis-auth", "key": "password"}


def base_name(svc: Service) -> str:
    """The service's name in the base, before the overlay's ``<stack>-`` prefix: ``model-a``, ``scoring``."""
    return svc.name.removeprefix(f"{svc.stack}-")


def commands(stack: Stack) -> list[dict[str, Any]]:
    """Patches giving every container of a stack its image, command and environment from the registry."""
    settings = k8s_settings(stack)
    seed = _container(RUNTIME, seed_watch_argv(), seed_env(settings))
    patches = [
        _patch("StatefulSet", REDIS_NAME, {"name": "redis", "args": redis_argv(REDIS_SERVER, settings)}),
        _patch("Deployment", "seed", {"name": "seed", **seed}),
    ]
    for svc in stack_services(stack):
        container = _container(RUNTIME, service_argv(svc, settings), container_env(svc, settings))
        patches.append(_patch("Deployment", base_name(svc), {"name": APP_CONTAINER, **container}))
    # The edge's liveness: its listener answers (the base gives the probe's timing).
    edge = _container(EDGE, edge_start_argv("kubernetes", stack), {})
    edge["livenessProbe"] = {"exec": {"command": listener_probe_argv(K8S_PORT)}}
    patches.append(_patch("Deployment", "edge", {"name": EDGE_CONTAINER, **edge}))
    worker = _container(RUNTIME, job_worker_argv(), job_worker_env(JobWorker(stack), settings))
    patches.append(_patch("Deployment", JOBS_WORKER, {"name": APP_CONTAINER, **worker}, replicas=settings.job_workers))
    return patches


def edge_url(stack: Stack) -> str:
    """Where the stack's clients reach it in the cluster: its edge Service (the base's ``edge``, port 8080)."""
    return f"http://{stack}-edge:{K8S_PORT}"


def load_commands(stack: Stack) -> list[dict[str, Any]]:
    """Patches giving the load overlay's Locust master and workers their commands: users go through the edge (the
    stack's NetworkPolicies admit nothing else to scoring)."""
    master_argv = locust_master_argv(edge_url(stack), stack)
    worker_argv = locust_worker_argv(f"{stack}-locust-master", stack)
    return [
        _patch("Deployment", "locust-master", {"name": LOCUST_CONTAINER, "command": master_argv}),
        _patch("Deployment", "locust-worker", {"name": LOCUST_CONTAINER, "command": worker_argv}),
    ]


def set_per_container() -> set[str]:
    """The settings every container that reads them is given itself: each service's name, address, port and
    worker count, and Redis' address and password."""
    settings = k8s_settings("async")
    envs = [container_env(svc, settings) for svc in SERVICES]
    return set.intersection(*(set(env) for env in envs)) | set(redis_env(settings))


def settings_env() -> str:
    """The settings ConfigMap's env file."""
    chosen = [s for s in settings("production") if s.name not in set_per_container()]
    header = [
        GENERATED,
        "# The production settings (.env.example) that no container sets itself, with their defaults. Change one for "
        "a stack in",
        "# its overlay: configMapGenerator [{name: settings, behavior: merge, literals: [...]}].",
    ]
    return "\n".join(header + env_lines(chosen, values={})) + "\n"


def rendered_files() -> dict[Path, str]:
    """Every generated file, by its path from the repository root."""
    files = {K8S_DIR / "base" / "settings.env": settings_env()}
    for stack in STACKS:
        files[K8S_DIR / "overlays" / stack / "commands.yaml"] = f"{GENERATED}\n" + to_yaml(*commands(stack))
        files[K8S_DIR / "overlays" / f"{stack}-load" / "commands.yaml"] = f"{GENERATED}\n" + to_yaml(
            *load_commands(stack)
        )
    return files


def _patch(kind: str, name: str, container: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    # A strategic-merge patch: kustomize matches the container by name and replaces these fields.
    template = {"spec": {"containers": [container]}}
    spec = {"template": template} if replicas is None else {"replicas": replicas, "template": template}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def _container(target: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    container = {"image": image(target), "command": argv}
    return container | ({"env": [_env_var(k, v) for k, v in env.items()]} if env else {})


def _env_var(name: str, value: str) -> dict[str, Any]:
    # Redis' password comes from its Secret, never from the manifests.
    if value == K8S_REDIS_PASSWORD_REF:
        return {"name": name, "valueFrom": {"secretKeyRef": REDIS_SECRET}}
    return {"name": name, "value": value}
