"""Every generated deployment file, by its path from the repository root."""

from __future__ import annotations

from pathlib import Path

from deploygen import compose, env_example, k8s, observability
from deploygen.containers import edge_file, to_yaml
from service_runtime.core.topology import STACKS

COMPOSE_FILE = Path("docker-compose.yml")
HEADER = "# Generated from system_launcher/registry.py by `make deploy-files` (python -m deploygen): do not edit.\n"
ENV_EXAMPLE = Path(".env.example")


def generated_files() -> dict[Path, str]:
    """docker-compose.yml, .env.example and the Kubernetes files, freshly rendered."""
    settings = compose.compose_settings()
    edges = {compose.edge_config_file(stack): edge_file(stack, settings) for stack in STACKS}
    prometheus = observability.prometheus_config(settings)
    return {COMPOSE_FILE: compose.render(), ENV_EXAMPLE: env_example.render(), **edges, **k8s.rendered_files(),
            observability.PROMETHEUS_FILE: HEADER + to_yaml(prometheus),
            observability.DASHBOARD_FILE: observability.render_dashboard()}  # fmt: skip


def stale_files(root: Path) -> list[Path]:
    """The generated files under ``root`` whose content differs from a fresh render (or that are missing)."""
    stale = []
    for path, text in generated_files().items():
        target = root / path
        if not target.exists() or target.read_text() != text:
            stale.append(path)
    return stale
