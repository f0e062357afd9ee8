"""The layout of doc/architecture.md holds: the reference is small and self-contained, every package is on the map,
and imports only go down."""

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
REFERENCE_MAX_LINES = 3000
# Files one request's path runs through (the scoring app, the model app it calls, what both import) at most.
PATH_MAX_FILES = 8
# Modules of the servers and clients that are theirs alone: the reference subclasses or imports none of them.
PRIVATE_MODULES = ("gunicorn.workers", "gunicorn.http", "uvicorn.protocols", "uvicorn._", "aiohttp.connector",
                   "urllib3.connection", "redis._parsers", "redis.asyncio.connection")  # fmt: skip


def package_map() -> dict[str, list[str]]:
    """``package -> may-import entries`` from the packages table of doc/architecture.md."""
    rows = {}
    for line in MAP.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and (name := re.fullmatch(r"`([\w.]+)`", cells[0])):
            rows[name.group(1)] = re.findall(r"`([\w.*]+)`", cells[2]) if cells[2] != "everything" else ["*"]
    return rows


def reference_table() -> list[Path]:
    """The files the ``The reference`` table of doc/architecture.md lists, in order."""
    text = MAP.read_text()
    section = text[text.index("## The reference") :]
    section = section[: section.index("\n## ", 4)]
    return [ROOT / m for m in re.findall(r"^\| `(reference/[\w/]+\.py)` \|", section, flags=re.M)]


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


def project_imports(path: Path) -> set[Path]:
    """The project's own files a file imports."""
    found = set()
    for module in imports_of(path):
        for candidate in (ROOT / (module.replace(".", "/") + ".py"), ROOT / module.replace(".", "/") / "__init__.py"):
            if candidate.exists():
                found.add(candidate)
                break
    return found


def closure(start: Path) -> set[Path]:
    """Every project file ``start`` imports, directly or not, and itself."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += project_imports(path) - seen
    return seen


def test_the_reference_table_lists_every_file_of_the_reference_within_its_size():
    listed = reference_table()
    on_disk = sorted((ROOT / "reference").glob("*.py"))
    assert sorted(listed) == on_disk
    lines = sum(len(p.read_text().splitlines()) for p in listed)
    assert lines <= REFERENCE_MAX_LINES, f"the reference has {lines} lines"


def test_the_reference_imports_nothing_else_and_no_private_module_and_never_sys_modules():
    listed = set(reference_table())
    for path in listed:
        for target in project_imports(path):
            assert target in listed, f"{path.relative_to(ROOT)} imports {target.relative_to(ROOT)}"
        private = [m for m in imports_of(path) if m.startswith(PRIVATE_MODULES)]
        assert private == [], f"{path.relative_to(ROOT)} imports {private}"
        assert not re.search(r"sys\.modules\[[^\]]+\]\s*=", path.read_text()), path


@pytest.mark.parametrize("stack", ["async", "sync"])
def test_one_request_runs_through_at_most_eight_files(stack):
    # The scoring service's app and the model service's it calls, and everything they import.
    path = closure(ROOT / f"reference/scoring_{stack}.py") | closure(ROOT / f"reference/model_{stack}.py")
    names = sorted(str(p.relative_to(ROOT)) for p in path if p.name != "__init__.py")
    assert len(names) <= PATH_MAX_FILES, names


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
    # The rules above really refuse something: the reference may import nothing of the project.
    rows = package_map()
    assert not allowed(rows["reference"], "apps")
    assert not allowed(rows["inference_protocol"], "model_serving")
    assert allowed(rows["apps"], "reference")


@pytest.mark.parametrize("app", ["reference.scoring_sync", "reference.model_sync", "apps.scoring_sync",
                                 "apps.model_sync"])  # fmt: skip
def test_the_sync_apps_load_none_of_the_async_stacks_libraries(app):
    # A fresh interpreter, as a gunicorn gthread worker: import the app module and build the app. (redis-py's own
    # __init__ imports its redis.asyncio package: accepted; its async client is never created.)
    probe = (f"import sys, {app} as m; m.create_app(); "
             f"print(sorted(n for n in sys.modules if n.split('.')[0] in {ASYNC_LIBRARIES!r}))")  # fmt: skip
    env = os.environ | {"MODEL_GRPC_PORT": "0"}  # the model app's gRPC server on any free port
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]"]


def test_the_async_apps_do_load_them():
    # The probe above can tell: the async scoring app does load FastAPI and aiohttp.
    probe = (
        "import sys, reference.scoring_async as m; m.create_app(); "
        "print('fastapi' in sys.modules, 'aiohttp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "True"], result.stderr
