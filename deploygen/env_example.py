"""Print ``.env.example``: every setting of every settings class, with its default and description."""

from __future__ import annotations

from collections.abc import Collection

from pydantic_settings import BaseSettings

from api_model.settings import ModelSettings
from api_scoring.settings import ScoringSettings
from benchmark.settings import BenchSettings
from feature_store.seed import SeedSettings
from job_queue.settings import JobSettings
from job_worker.settings import WorkerSettings
from service_runtime.core.server_settings import ServerSettings
from service_runtime.web.profiling import ProfilingSettings
from system_launcher.edge import EdgeSettings
from system_launcher.settings import StackSettings

SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    StackSettings,
    EdgeSettings,
    ServerSettings,
    ModelSettings,
    ScoringSettings,
    JobSettings,
    WorkerSettings,
    SeedSettings,
    ProfilingSettings,
    BenchSettings,
)


def env_lines(cls: type[BaseSettings], exclude: Collection[str] = ()) -> list[str]:
    """``# description`` and ``NAME=default`` for each field of a settings class, but the ``exclude``d names."""
    prefix = cls.model_config.get("env_prefix", "")
    lines = [f"# --- {cls.__name__}: {(cls.__doc__ or '').strip().splitlines()[0]}"]
    for name, field in cls.model_fields.items():
        if f"{prefix}{name.upper()}" in exclude:
            continue
        default = field.default
        value = "" if default is None else str(default)
        if field.description:
            lines.append(f"# {field.description}")
        aliases = getattr(field.validation_alias, "choices", None)
        for conventional in ("REDIS_URL", "REDIS_PASSWORD"):
            if aliases and conventional in aliases:
                lines.append(f"# ({conventional} is honoured too)")
        lines.append(f"{prefix}{name.upper()}={value}")
    return lines


def render() -> str:
    """The whole file."""
    out = [
        "# Every setting of every service, with its default. Copy to .env to change some; the",
        "# environment wins over .env. Regenerate with `make deploy-files` (a test keeps it in step).",
        "",
    ]
    for cls in SETTINGS_CLASSES:
        out += [*env_lines(cls), ""]
    return "\n".join(out)
