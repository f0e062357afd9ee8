"""The fingerprint written beside every result: machine, OS, Python, packages and lock, git sha, service settings."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from apps.settings import FanoutSettings
from inference_protocol.settings import TransportSettings
from model_serving.settings import ServingSettings
from reference.settings import ModelCostSettings, ScoringSettings, ServiceSettings, cores
from system_launcher.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = ROOT / "uv.lock"

PACKAGES = (
    "fastapi", "uvicorn", "uvicorn-worker", "gunicorn", "granian", "aiohttp", "flask", "flask-openapi3", "werkzeug",
    "requests",
    "redis", "hiredis", "orjson", "pydantic", "meinheld", "greenlet", "locust", "gevent", "geventhttpclient",
    "pyinstrument", "yappi", "matplotlib", "grpcio", "protobuf",
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


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True).stdout


def _dirty(*excluded: str) -> bool:
    return bool(_git("status", "--porcelain", "--", ".", *(f":(exclude){path}" for path in excluded)).strip())


def git_sha() -> str:
    """The commit the code under test comes from, with ``-dirty`` when the tree has changes (results written under
    ``doc/results`` and the README's results block, written by earlier phases of the same run, are outputs, not
    changes to the code)."""
    try:
        return _git("rev-parse", "HEAD").strip() + ("-dirty" if _dirty("doc/results", "README.md") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# What a commit may change without changing what a benchmark measures: results and prose (nothing under doc/ runs).
NOT_CODE = ("doc", "README.md")


def code_sha() -> str:
    """The last commit that changed the code (anything but ``doc/`` and ``README.md``), ``-dirty`` with uncommitted
    code changes: phases with the same code sha measured the same code, whatever results were committed between."""
    try:
        excluded = [f":(exclude){path}" for path in NOT_CODE]
        sha = _git("log", "-1", "--format=%H", "--", ".", *excluded).strip()
        return (sha or "unknown") + ("-dirty" if _dirty(*NOT_CODE) else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def lock_sha256() -> str | None:
    """The hash of the lock file the packages were installed from (``make install``): the exact versions."""
    try:
        return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()
    except OSError:
        return None


def service_settings() -> dict:
    """The settings the services of a default stack start with here: model cost and kind, deadline, fan-out, the
    transport to the models (``SCORING_MODEL_PROTOCOL``), worker layout."""
    cost, lab, scoring, server, stack = (
        ModelCostSettings(),
        ServingSettings(),
        ScoringSettings(),
        ServiceSettings(),
        StackSettings(),
    )
    sync_threads = server.threads if stack.variant("sync") in ("gthread", "granian") else 1  # else one per worker
    return {
        "model": {
            "wait_min_ms": cost.wait_min_ms,
            "wait_max_ms": cost.wait_max_ms,
            "cpu_ms": cost.cpu_ms,
            "kind": lab.kind,
            "accelerator_slots": lab.accelerator_slots,
            "max_batch_size": lab.max_batch_size,
            "max_batch_wait_ms": lab.max_batch_wait_ms,
        },
        "scoring": {
            "deadline_s": scoring.deadline_s,
            "fanout": FanoutSettings().fanout,
            "model_protocol": TransportSettings().model_protocol,
        },
        "layout": {
            "cores": cores(),
            "async_server": stack.server_label("async"),
            "sync_server": stack.server_label("sync"),
            "async_scoring_workers": server.worker_count(),
            "sync_scoring_workers": server.worker_count(),
            "sync_scoring_threads": sync_threads,
            "model_workers": stack.model_workers,
            "sync_model_threads": stack.model_threads,
            "sync_worker_class": stack.sync_worker_class,
        },
    }


def fingerprint() -> dict:
    """Everything about this machine and checkout that a reader needs to compare runs."""
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": cores(),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "lock_sha256": lock_sha256(),
        "git_sha": git_sha(),
        "code_sha": code_sha(),
        "services": service_settings(),
    }


def write_fingerprint(directory: Path, **settings) -> Path:
    """Write ``fingerprint.json`` (machine, git sha and the settings of this result) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "fingerprint.json"
    path.write_text(json.dumps(fingerprint() | {"settings": settings}, indent=2, default=str))
    return path


# What must match for a finished phase to count as part of the run being resumed: the code, the packages, the kind
# of machine, the services' settings and the benchmark's.
SAME_RUN = ("code_sha", "lock_sha256", "cpu_model", "cpu_count", "python", "services", "settings")


def mark_finished(directory: Path) -> None:
    """Record in the phase's fingerprint that it ran to the end (a run that was stopped leaves no mark)."""
    path = directory / "fingerprint.json"
    written = json.loads(path.read_text())
    path.write_text(json.dumps(written | {"finished_at": datetime.now(UTC).isoformat(timespec="seconds")}, indent=2))


def _written(directory: Path) -> dict | None:
    """The fingerprint written in ``directory``, or None when there is none or it cannot be read."""
    try:
        return json.loads((directory / "fingerprint.json").read_text())
    except (OSError, ValueError):
        return None


def _matches(written: dict, settings: dict) -> bool:
    """Whether a written fingerprint was taken with this committed code, these packages and settings, on this kind
    of machine."""
    now = json.loads(json.dumps(fingerprint() | {"settings": settings}, default=str))
    if now["code_sha"].endswith("-dirty") or now["code_sha"] == "unknown":
        return False
    return all(written.get(key) == now[key] for key in SAME_RUN)


def same_run(directory: Path, **settings) -> bool:
    """Whether the fingerprint in ``directory`` was taken with this code (committed, not dirty), these packages and
    settings, on this kind of machine."""
    written = _written(directory)
    return written is not None and _matches(written, settings)


def finished_here(directory: Path, **settings) -> bool:
    """Whether the phase in ``directory`` ran to the end in this run (:func:`same_run`)."""
    written = _written(directory)
    return written is not None and "finished_at" in written and _matches(written, settings)
