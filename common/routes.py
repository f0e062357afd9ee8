"""The HTTP paths every service of both stacks answers on (the original study's contract)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

Stack = Literal["async", "sync"]

HEALTHCHECK_PATH = "/api/v1/healthcheck"
READINESS_PATH = "/api/v1/ready"
HEALTHY = {"status": "OK"}


def health_url(service_url: str) -> str:
    """The liveness URL of the service that answers ``service_url``."""
    parts = urlsplit(service_url)
    return f"{parts.scheme}://{parts.netloc}{HEALTHCHECK_PATH}"


def predict_path(stack: Stack) -> str:
    """``/api/v1/ml/async/predict`` on the async services, ``/api/v1/ml/sync/predict`` on the sync ones."""
    return f"/api/v1/ml/{stack}/predict"


# Default port of each service, (stack, service) -> port: the original study's ports.
DEFAULT_PORTS: dict[tuple[Stack, str], int] = {
    ("async", "model_a"): 8000,
    ("async", "scoring"): 8001,
    ("async", "model_b"): 8002,
    ("sync", "model_a"): 5000,
    ("sync", "scoring"): 5001,
    ("sync", "model_b"): 5002,
}
DEFAULT_REDIS_PORT = 6379
