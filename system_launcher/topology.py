"""The system's shape, defined once: the stacks, the services of each, and where each listens by default."""

from __future__ import annotations

from typing import Literal, get_args

Stack = Literal["async", "sync"]
Model = Literal["model_a", "model_b"]
Role = Literal["model_a", "scoring", "model_b"]

STACKS: tuple[Stack, ...] = get_args(Stack)
MODELS: tuple[Model, ...] = get_args(Model)
ROLES: tuple[Role, ...] = get_args(Role)

# Where users reach each service, (stack, role) -> port.
DEFAULT_PORTS: dict[tuple[Stack, Role], int] = {
    ("async", "model_a"): 8000,
    ("async", "scoring"): 8001,
    ("async", "model_b"): 8002,
    ("sync", "model_a"): 5000,
    ("sync", "scoring"): 5001,
    ("sync", "model_b"): 5002,
}
DEFAULT_REDIS_PORT = 6379
# Behind the edge, which takes the scoring ports users know: where each scoring server itself listens (loopback
# natively), and the edge's metrics port (/stats/prometheus; its admin is a Unix socket, reachable by its owner only).
DEFAULT_SCORING_BACKEND_PORTS: dict[Stack, int] = {"async": 18001, "sync": 15001}
DEFAULT_EDGE_METRICS_PORTS: dict[Stack, int] = {"async": 9901, "sync": 9902}
# The job workers' probe and metrics ports: the first worker's; natively worker i listens on this + i.
DEFAULT_JOBS_WORKER_PORTS: dict[Stack, int] = {"async": 8003, "sync": 5003}
