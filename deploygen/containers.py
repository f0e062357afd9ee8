"""What running in containers adds to the registry: image tags, resource limits, worker counts.

``deploygen/compose.py`` and ``deploygen/k8s.py`` both read these, so docker compose and Kubernetes cannot
disagree; commands and environments still come from ``system_launcher/registry.py`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from service_runtime.core.server_settings import workers_for
from service_runtime.core.topology import Stack
from system_launcher.edge import EdgePlan, EdgeSettings, edge_argv, edge_config
from system_launcher.registry import Service, edge_plan, service, service_env
from system_launcher.settings import StackSettings

GENERATED_EDGE = (
    "# Generated from system_launcher/edge.py by `make deploy-files` (python -m deploygen): do not edit by hand.\n"
)

IMAGE = "async-vs-sync-scoring"
# The Dockerfile's build targets; each is tagged with its own name (see ``image``).
RUNTIME = "runtime"
RUNTIME_MEINHELD = "runtime-meinheld"
BENCH = "bench"
EDGE = "edge"
# Where an edge container finds its configuration (mounted from the generated file of its stack).
EDGE_CONFIG_PATH = "/etc/edge/edge.yaml"
# Pinned to a minor version so a benchmark rerun a year later talks to the same Redis.
REDIS_IMAGE = "redis:7.4"
# The binary in REDIS_IMAGE that redis_argv starts.
REDIS_SERVER = "redis-server"


@dataclass(frozen=True)
class Limits:
    """The CPU and memory one container may use (limits equal requests: a predictable benchmark)."""

    cpus: int
    memory_mib: int


# Every service of both stacks gets the same: the comparison is only fair if neither stack gets more.
SERVICE_LIMITS = Limits(cpus=1, memory_mib=512)
REDIS_LIMITS = Limits(cpus=1, memory_mib=256)
EDGE_LIMITS = Limits(cpus=1, memory_mib=256)
LOCUST_LIMITS = Limits(cpus=1, memory_mib=512)


def image(target: str) -> str:
    """The tag a Dockerfile build target is built as: ``async-vs-sync-scoring:<target>``."""
    return f"{IMAGE}:{target}"


def service_target(svc: Service, settings: StackSettings) -> str:
    """The build target a service runs: the meinheld one only when its worker class is meinheld."""
    return RUNTIME_MEINHELD if service_env(svc, settings)["SERVER_WORKER_CLASS"] == "meinheld" else RUNTIME


def worker_count(worker_class: str, cpus: int) -> int:
    """The worker formula applied to a container's CPU limit.

    The formula counts the cores a process may run on; a CPU limit is a quota over all the host's
    cores, which it cannot see, so in a container it would start one worker per host core.
    """
    return workers_for(worker_class, cpus)


def container_env(svc: Service, settings: StackSettings) -> dict[str, str]:
    """``service_env``, plus the worker count that fits the container's CPU limit."""
    env = service_env(svc, settings)
    return env | {"SERVER_WORKERS": str(worker_count(env["SERVER_WORKER_CLASS"], SERVICE_LIMITS.cpus))}


def container_edge_plan(stack: Stack, settings: StackSettings) -> EdgePlan:
    """A stack's edge in containers: its scoring service runs the container worker count."""
    return edge_plan(stack, settings, container_env(service(stack, "scoring"), settings))


def edge_file(stack: Stack, settings: StackSettings) -> str:
    """The YAML configuration of a stack's edge in containers (defaults of ``EDGE_*``, as every generated file)."""
    return GENERATED_EDGE + to_yaml(edge_config(container_edge_plan(stack, settings), EdgeSettings()))


def edge_command() -> list[str]:
    """The command of an edge container, reading the configuration mounted at ``EDGE_CONFIG_PATH``."""
    return edge_argv(EDGE_CONFIG_PATH, EdgeSettings())


def to_yaml(*documents: Any) -> str:
    """YAML documents as the generated deployment files are written: keys in order, short lists on one line."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=120)


class _Dumper(yaml.SafeDumper):
    """Writes short lists (most commands) on one line, and no YAML anchors: every entry reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_list(self, data: list) -> yaml.Node:
        flow = all(isinstance(item, str | int) for item in data) and len(", ".join(map(str, data))) <= 100
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)
