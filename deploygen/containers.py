"""What running in containers adds to the registry: image tags, resource limits, worker counts, probes and the
edge's command.

``deploygen/compose.py`` and ``deploygen/k8s.py`` both read these, so docker compose and Kubernetes cannot
disagree; commands and environments still come from ``system_launcher/registry.py`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reference.api import HEALTH_PATH
from system_launcher.registry import Service, service_env
from system_launcher.settings import StackSettings
from system_launcher.topology import Stack

IMAGE = "async-vs-sync-scoring"
# The Dockerfile's build targets; each is tagged with its own name (see ``image``).
RUNTIME = "runtime"
BENCH = "bench"
EDGE = "edge"
TARGETS = (RUNTIME, BENCH, EDGE)
# Every container of these images starts here, then runs its command: with REDIS_PASSWORD_FILE set, it exports
# Redis' password from that file (Dockerfile, deploy/docker/entrypoint.sh).
ENTRYPOINT = "/usr/local/bin/entrypoint"
# The image's user (the Dockerfile's USER; the manifests' runAsUser).
APP_UID = 10001
# Pinned to a minor version so a benchmark rerun a year later talks to the same Redis.
REDIS_IMAGE = "redis:7.4"
# The binary in REDIS_IMAGE that redis_argv starts, and the user it runs as (the official image's redis).
REDIS_SERVER = "redis-server"
REDIS_UID = 999

Platform = Literal["compose", "kubernetes"]
PLATFORMS: tuple[Platform, ...] = ("compose", "kubernetes")


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


def container_env(svc: Service, settings: StackSettings) -> dict[str, str]:
    """``service_env``, with as many workers as the container's CPU limit where the registry leaves the count to
    the cores: a limit is a quota over all the host's cores, which ``SERVER_WORKERS``' default would count."""
    env = service_env(svc, settings)
    return env if "SERVER_WORKERS" in env else env | {"SERVER_WORKERS": str(SERVICE_LIMITS.cpus)}


def liveness_probe_argv(port: int) -> list[str]:
    """A service's liveness probe the image runs without curl: ``urlopen`` raises, so exits non-zero, on anything
    but 2xx."""
    url = f"http://127.0.0.1:{port}{HEALTH_PATH}"
    return ["python", "-c", f'import urllib.request; urllib.request.urlopen("{url}", timeout=2)']


def listener_probe_argv(port: int) -> list[str]:
    """The edge's liveness probe: its listener answers HTTP, whatever the status (with the scoring service down it
    answers 503 itself, and restarting it would not help); a drained or wedged edge answers nothing and fails."""
    script = (f'import http.client; c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=2); '
              f'c.request("GET", "{HEALTH_PATH}"); c.getresponse()')  # fmt: skip
    return ["python", "-c", script]


def edge_start_argv(platform: Platform, stack: Stack) -> list[str]:
    """An edge container's command: its configuration rendered from the settings in its environment, then Envoy
    (``deploygen.edge_start``)."""
    return ["python", "-m", "deploygen.edge_start", platform, stack]
