"""The system's shape, defined once: the stacks, the services of each, their paths and default ports.

Every other module (settings, launcher, deployment files, benchmark, tests) takes these names
from here; the HTTP paths are the original study's contract.
"""

from __future__ import annotations

from typing import Literal, get_args
from urllib.parse import urlsplit

Stack = Literal["async", "sync"]
Model = Literal["model_a", "model_b"]
Role = Literal["model_a", "scoring", "model_b"]

STACKS: tuple[Stack, ...] = get_args(Stack)
MODELS: tuple[Model, ...] = get_args(Model)
ROLES: tuple[Role, ...] = get_args(Role)

HEALTHCHECK_PATH = "/api/v1/healthcheck"
READINESS_PATH = "/api/v1/ready"
METRICS_PATH = "/metrics"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
HEALTHY = {"status": "OK"}

# Default port of each service, (stack, role) -> port: the original study's ports.
DEFAULT_PORTS: dict[tuple[Stack, Role], int] = {
    ("async", "model_a"): 8000,
    ("async", "scoring"): 8001,
    ("async", "model_b"): 8002,
    ("sync", "model_a"): 5000,
    ("sync", "scoring"): 5001,
    ("sync", "model_b"): 5002,
}
DEFAULT_REDIS_PORT = 6379
# Behind the edge, which takes the scoring ports users know: where each scoring server itself listens
# (loopback natively), the edge's metrics port (/stats/prometheus) and its admin port (loopback only).
DEFAULT_SCORING_BACKEND_PORTS: dict[Stack, int] = {"async": 18001, "sync": 15001}
DEFAULT_EDGE_METRICS_PORTS: dict[Stack, int] = {"async": 9901, "sync": 9902}
DEFAULT_EDGE_ADMIN_PORTS: dict[Stack, int] = {"async": 19901, "sync": 19902}
# Where each model service serves the Open Inference Protocol over gRPC, beside its HTTP port.
DEFAULT_GRPC_PORTS: dict[tuple[Stack, Model], int] = {
    ("async", "model_a"): 8100,
    ("async", "model_b"): 8102,
    ("sync", "model_a"): 5100,
    ("sync", "model_b"): 5102,
}

# The Open Inference Protocol's REST routes (KServe v2) that every model service answers beside the study's own.
OIP_LIVE_PATH = "/v2/health/live"
OIP_READY_PATH = "/v2/health/ready"
OIP_SERVER_PATH = "/v2"

# The job workers' probe and metrics ports: the first worker's; natively worker i listens on this + i.
DEFAULT_JOBS_WORKER_PORTS: dict[Stack, int] = {"async": 8003, "sync": 5003}


def health_url(service_url: str) -> str:
    """The liveness URL of the service that answers ``service_url``."""
    parts = urlsplit(service_url)
    return f"{parts.scheme}://{parts.netloc}{HEALTHCHECK_PATH}"


def predict_path(stack: Stack) -> str:
    """``/api/v1/ml/async/predict`` on the async services, ``/api/v1/ml/sync/predict`` on the sync ones."""
    return f"/api/v1/ml/{stack}/predict"


def jobs_path(stack: Stack) -> str:
    """Where a scoring service takes jobs: ``/api/v1/ml/async/jobs``, ``/api/v1/ml/sync/jobs``."""
    return f"/api/v1/ml/{stack}/jobs"


def job_path(stack: Stack, job_id: str = "{job_id}") -> str:
    """One job of a scoring service (by default the path template, ``.../jobs/{job_id}``)."""
    return f"{jobs_path(stack)}/{job_id}"
