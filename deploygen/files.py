"""Every generated deployment file, by its path from the repository root."""

from __future__ import annotations

from pathlib import Path

from deploygen import compose, env_example, k8s
from deploygen.containers import edge_file
from service_runtime.core.topology import STACKS

COMPOSE_FILE = Path("docker-compose.yml")
ENV_EXAMPLE = Path(".env.example")


def generated_files() -> dict[Path, str]:
    """docker-compose.yml, .env.example and the Kubernetes files, freshly rendered."""
    settings = compose.compose_settings()
    edges = {compose.edge_config_file(stack): edge_file(stack, settings) for stack in STACKS}
    return {COMPOSE_FILE: compose.render(), ENV_EXAMPLE: env_example.render(), **edges, **k8s.rendered_files()}


def stale_files(root: Path) -> list[Path]:
    """The generated files under ``root`` whose content differs from a fresh render (or that are missing)."""
    stale = []
    for path, text in generated_files().items():
        target = root / path
        if not target.exists() or target.read_text() != text:
            stale.append(path)
    return stale
