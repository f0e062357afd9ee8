"""The machine fingerprint written beside every result: CPU, memory, OS, Python, packages, git sha."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from common.server_settings import cpu_count

PACKAGES = (
    "fastapi", "uvicorn", "uvicorn-worker", "gunicorn", "aiohttp", "flask", "werkzeug", "requests", "redis",
    "orjson", "pydantic", "meinheld", "greenlet", "locust", "gevent", "geventhttpclient", "pyinstrument", "yappi",
    "matplotlib",
)  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        release = platform.freedesktop_os_release()
        return f"{release.get('PRETTY_NAME', 'Linux')} (kernel {platform.release()})"
    except OSError:
        return f"{platform.system()} {platform.release()}"


def git_sha() -> str:
    """The commit the code under test comes from, with ``-dirty`` when the tree has changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def fingerprint() -> dict:
    """Everything about this machine and checkout that a reader needs to compare runs."""
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": cpu_count(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git_sha": git_sha(),
    }


def write_fingerprint(directory: Path, **settings) -> Path:
    """Write ``fingerprint.json`` (machine, git sha and the settings of this result) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fingerprint.json"
    path.write_text(json.dumps(fingerprint() | {"settings": settings}, indent=2, default=str))
    return path
