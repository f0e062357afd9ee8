"""The protocol's REST paths (KServe v2), each model's in its plain and versioned forms, and the URLs of a model
service a client reaches them at."""

from __future__ import annotations

from urllib.parse import urlsplit

OIP_SERVER_PATH = "/v2"
OIP_LIVE_PATH = "/v2/health/live"
OIP_READY_PATH = "/v2/health/ready"


def oip_model_path(model: str, version: str | None = None) -> str:
    """A model's metadata, ``/v2/models/model_a``, or one version's, ``/v2/models/model_a/versions/1.0.0``."""
    path = f"/v2/models/{model}"
    return path if version is None else f"{path}/versions/{version}"


def oip_model_ready_path(model: str, version: str | None = None) -> str:
    """A model's (or one version's) readiness."""
    return f"{oip_model_path(model, version)}/ready"


def oip_infer_path(model: str, version: str | None = None) -> str:
    """A model's (or one version's) inference."""
    return f"{oip_model_path(model, version)}/infer"


def oip_url(service_url: str, path: str) -> str:
    """``path`` on the service that answers ``service_url`` (any URL of it, such as its predict route)."""
    parts = urlsplit(service_url)
    return f"{parts.scheme}://{parts.netloc}{path}"
