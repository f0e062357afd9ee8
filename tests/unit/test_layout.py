"""The layout of doc/architecture.md holds: every package is on the map, and imports only go down."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "doc" / "architecture.md"
# Names that say nothing about what a package holds; none may be a top-level package of this project.
GENERIC = {"common", "stack", "utils", "util", "lib", "helpers", "misc", "shared", "core", "faults", "tools"}
ASYNC_LIBRARIES = ("fastapi", "starlette", "aiohttp", "uvicorn", "uvicorn_worker")


def package_map() -> dict[str, list[str]]:
    """``package -> may-import entries`` from the table of doc/architecture.md."""
    rows = {}
    for line in MAP.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (name := re.fullmatch(r"`([\w.]+)`", cells[0])):
            rows[name.group(1)] = re.findall(r"`([\w.*]+)`", cells[2]) if cells[2] != "everything" else ["*"]
    return rows


def packages_on_disk() -> set[str]:
    """Every package of the repository, dotted."""
    return {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.glob("**/__init__.py")
            if ".venv" not in p.parts and "var" not in p.parts}  # fmt: skip


def owner(module: str, packages: set[str]) -> str | None:
    """The package of the map a module belongs to: the longest package name it starts with."""
    found = [p for p in packages if module == p or module.startswith(p + ".")]
    return max(found, key=len) if found else None


def allowed(entries: list[str], target: str) -> bool:
    """``x`` allows package x; ``x.*`` allows x and every package under it; ``*`` allows everything."""
    for entry in entries:
        if entry == "*" or entry == target or (entry.endswith(".*") and (target + ".").startswith(entry[:-1])):
            return True
    return False


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_package_is_on_the_map_and_none_has_a_generic_name():
    on_map = set(package_map())
    on_disk = {p for p in packages_on_disk() if not p.startswith("tests.")}  # the tests are one row
    assert on_disk - on_map == set(), f"packages missing from {MAP.name}"
    assert on_map - on_disk == set(), f"{MAP.name} names packages that do not exist"
    top_level = {p.split(".")[0] for p in on_disk}
    assert top_level & GENERIC == set()


def test_imports_only_go_down():
    rows = package_map()
    packages = set(rows)
    violations = []
    for path in ROOT.glob("**/*.py"):
        if ".venv" in path.parts or "var" in path.parts:
            continue
        source = owner(".".join(path.relative_to(ROOT).with_suffix("").parts), packages)
        if source is None:
            continue
        for module in imports_of(path):
            target = owner(module, packages)
            if target is None or target == source or module == target + ".__main__":
                continue
            if not allowed(rows[source], target):
                violations.append(f"{path.relative_to(ROOT)} ({source}) imports {module} ({target})")
    assert violations == []


def test_the_import_check_can_fail():
    # The rules above really refuse something: the bottom layer may import nothing of the project.
    rows = package_map()
    assert not allowed(rows["service_runtime.core"], "feature_store")
    assert not allowed(rows["feature_store"], "api_scoring")
    assert allowed(rows["api_model"], "service_runtime.web")


@pytest.mark.parametrize("app", ["api_scoring.app_sync", "api_model.app_sync"])
def test_the_sync_apps_load_none_of_the_async_stacks_libraries(app):
    # A fresh interpreter, as a gunicorn sync worker: import the app module and build the app.
    probe = (
        f"import sys, {app} as m; m.create_app(); "
        "import feature_store.redis_without_asyncio as r; "
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {ASYNC_LIBRARIES!r})); "
        "print(r.async_client_loaded())"
    )
    # The model app starts its gRPC server: on any free port, not the default one. grpcio's package imports its
    # own grpc.aio module, but the sync apps never create anything of it (a thread-pool server, blocking channels).
    env = os.environ | {"MODEL_GRPC_PORT": "0"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded, async_client = result.stdout.splitlines()
    assert loaded == "[]"
    assert async_client == "False"  # redis-py's async client (redis.asyncio.client, .connection) never loaded


def test_the_sync_job_worker_loads_none_of_the_async_stacks_libraries():
    # As `python -m job_worker` with WORKER_STACK=sync: its entry point, the worker, its scoring clients and consumer.
    probe = (
        "import sys, job_worker.__main__, job_worker.worker_sync as w; "
        "from api_scoring.resources_sync import ScoringResources; from api_scoring.settings import ScoringSettings; "
        "from job_queue.consumer_sync import JobConsumer; from job_queue.settings import JobSettings; "
        "ScoringResources.open(ScoringSettings(), 4); JobConsumer(JobSettings(), 'sync', 'probe', 1.0, 4); "
        "import feature_store.redis_without_asyncio as r; "
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {ASYNC_LIBRARIES!r})); "
        "print(r.async_client_loaded())"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "False"]


def test_the_async_apps_do_load_them():
    # The probe above can tell: the async scoring app does load FastAPI and the async Redis client.
    probe = (
        "import sys, api_scoring.app_async as m; m.create_app(); import redis.asyncio; redis.asyncio.Redis; "
        "print('fastapi' in sys.modules, 'redis.asyncio.client' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "True"], result.stderr
