"""Settings a user set that ``make up`` would have to replace: refused with a clear message, never overridden."""

from __future__ import annotations

from collections.abc import Mapping

from system_launcher.registry import SERVICES, job_worker_env, job_workers, seed_env, service_env
from system_launcher.settings import StackSettings

# What wires the processes to each other: the launcher sets these per process, to the models it runs.
WIRING_SUFFIXES = ("_MODEL_URLS", "_GRPC_TARGETS")


def wiring_keys(settings: StackSettings) -> set[str]:
    """Every variable the launcher sets to connect one of its processes to another."""
    envs = [service_env(svc, settings) for svc in SERVICES] + [seed_env(settings)]
    envs += [job_worker_env(w, settings) for w in job_workers(settings)]
    return {key for env in envs for key in env if key.endswith(WIRING_SUFFIXES)}


def refused_settings(settings: StackSettings, *sources: Mapping[str, str | None]) -> list[str]:
    """Each wiring variable a user set (in the environment or ``.env``), as ``NAME=value``."""
    keys = wiring_keys(settings)
    found = {key: value for source in sources for key, value in source.items() if key in keys and value}
    return [f"{key}={value}" for key, value in sorted(found.items())]


def refusal_message(refused: list[str]) -> str:
    """Why ``make up`` will not start, and what to do instead."""
    return (
        f"make up will not start: {', '.join(refused)} is set (environment or .env), but make up connects every "
        "scoring service to the model services it starts itself and would silently replace it. Unset it; to move "
        "the services set STACK_*_PORT (and to use a Redis of your own, REDIS_URL)."
    )
