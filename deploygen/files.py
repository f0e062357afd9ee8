"""Every generated deployment file, by its path from the repository root."""

from __future__ import annotations

from pathlib import Path

from deploygen import compose, env_files, k8s, observability
from deploygen.platforms import compose_settings
from deploygen.render import GENERATED, to_yaml


def generated_files() -> dict[Path, str]:
    """docker-compose.yml, .env.example, lab.env.example, the Kubernetes files and the observability pack, freshly
    rendered."""
    prometheus = observability.prometheus_config(compose_settings())
    return {compose.COMPOSE_FILE: compose.render(), **env_files.rendered_files(), **k8s.rendered_files(),
            observability.PROMETHEUS_FILE: f"{GENERATED}\n" + to_yaml(prometheus),
            observability.DASHBOARD_FILE: observability.render_dashboard()}  # fmt: skip


def stale_files(root: Path) -> list[Path]:
    """The generated files under ``root`` whose content differs from a fresh render (or that are missing)."""
    return [path for path, text in generated_files().items()
            if not (root / path).exists() or (root / path).read_text() != text]  # fmt: skip
