"""The registry's settings on each platform: docker compose (one host name per container, the ports of ``make up``)
and a Kubernetes overlay (one Service per process, every pod on the same ports).

Built from the defaults and these values alone, never from the environment or ``.env``: the generated files are the
same on every machine, and an edge container that builds them at start agrees with the file that started it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from system_launcher.registry import SERVICES
from system_launcher.settings import REDIS_NAME, StackSettings
from system_launcher.topology import DEFAULT_REDIS_PORT, STACKS, Stack

# Where Redis keeps its append-only file in its container (the official image's working directory; compose mounts
# the volume redis-data there, Kubernetes the StatefulSet's claim).
REDIS_DATA_DIR = Path("/data")
# Where each edge container keeps its generated configuration and its admin socket: its own /tmp (in memory).
EDGE_RUN_DIR = Path("/tmp")

# Kubernetes: every service listens on this port (the base's port named http), every pod has its own address.
K8S_PORT = 8080
# And every model service serves the Open Inference Protocol over gRPC on this one (the base's port named grpc).
K8S_GRPC_PORT = 9000
K8S_EDGE_METRICS_PORT = 9901
# Redis' password in Kubernetes: the Secret's value in the variable REDIS_PASSWORD, which the kubelet expands in
# Redis' arguments; deploygen.k8s turns this reference into a secretKeyRef wherever a container is given it.
K8S_REDIS_PASSWORD_REF = "$(REDIS_PASSWORD)"


def platform_settings(**values: object) -> StackSettings:
    """``StackSettings`` from its defaults and ``values``: the environment and ``.env`` are not read."""
    return StackSettings.model_construct(**values)


def compose_settings() -> StackSettings:
    """docker compose: each process at its own host name, listening on all its interfaces on the ports of
    ``make up``. Redis' password is not in any file: compose's clients read it from the redis-auth volume."""
    return platform_settings(bind_host="0.0.0.0", per_service_hosts=True, redis_dir=REDIS_DATA_DIR,
                             run_dir=EDGE_RUN_DIR)  # fmt: skip


def k8s_settings(stack: Stack) -> StackSettings:
    """A stack's Kubernetes overlay: one Service per process, named ``<stack>-<name>``, every one on ``K8S_PORT``;
    Redis' password from the Secret."""
    ports = {f"{svc.stack}_{svc.role}_port": K8S_PORT for svc in SERVICES}
    # Behind the edge too, scoring listens on K8S_PORT: it is a pod of its own.
    ports |= {f"{s}_scoring_backend_port": K8S_PORT for s in STACKS}
    ports |= {f"{s}_edge_metrics_port": K8S_EDGE_METRICS_PORT for s in STACKS}
    ports |= {f"{svc.stack}_{svc.role}_grpc_port": K8S_GRPC_PORT for svc in SERVICES if svc.role != "scoring"}
    ports |= {f"{s}_jobs_worker_port": K8S_PORT for s in STACKS}  # job workers: probes and /metrics, as services
    # The services' registry names already carry the stack; Redis gets it from the overlay's name prefix.
    redis_url = f"redis://{stack}-{REDIS_NAME}:{DEFAULT_REDIS_PORT}/0"
    return platform_settings(bind_host="0.0.0.0", per_service_hosts=True, redis_dir=REDIS_DATA_DIR,
                             run_dir=EDGE_RUN_DIR, redis_url=redis_url,
                             redis_password=SecretStr(K8S_REDIS_PASSWORD_REF), **ports)  # fmt: skip
