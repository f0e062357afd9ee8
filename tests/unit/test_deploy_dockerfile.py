"""The Dockerfile: its targets exist, copy what exists, run as the non-root user Kubernetes expects, compile nothing;
and the lock installs from wheels alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from deploygen.containers import APP_UID, ENTRYPOINT, RUNTIME, TARGETS
from system_launcher.registry import LOCUSTFILE

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    """The Dockerfile's build stages by name, in order, each with its instructions."""
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    found: dict[str, Stage] = {}
    for item in parser.structure:
        if item["instruction"] == "FROM":
            parent, _, name = item["value"].partition(" AS ")
            found[name.strip()] = Stage(name.strip(), parent.strip())
        elif item["instruction"] != "COMMENT" and found:
            list(found.values())[-1].instructions.append((item["instruction"], item["value"]))
    return found


def user_of(stages: dict[str, Stage], name: str) -> str:
    """The user a stage runs as: its last USER, else its parent stage's, else the base image's (root)."""
    stage = stages[name]
    users = [value for instruction, value in stage.instructions if instruction == "USER"]
    if users:
        return users[-1]
    return user_of(stages, stage.parent) if stage.parent in stages else "root"


def test_the_targets_exist_and_runtime_is_the_default(stages):
    assert set(TARGETS) <= set(stages)
    assert list(stages)[-1] == RUNTIME  # `docker build .` builds the last stage


def test_base_is_python_3_11_slim():
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    (arg,) = [i["value"] for i in parser.structure if i["instruction"] == "ARG" and "PYTHON_IMAGE" in i["value"]]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", arg)


def test_every_copy_source_exists(stages):
    copies = [(stage, value.split()) for stage in stages.values() for i, value in stage.instructions if i == "COPY"]
    assert copies
    for stage, words in copies:
        options = [w for w in words if w.startswith("--")]
        *sources, _destination = [w for w in words if not w.startswith("--")]
        from_stage = [o.removeprefix("--from=") for o in options if o.startswith("--from=")]
        if from_stage:
            assert from_stage[0] in stages, f"{stage.name}: COPY from unknown stage {from_stage[0]}"
            assert list(stages).index(from_stage[0]) < list(stages).index(stage.name)
        else:
            for source in sources:
                assert (ROOT / source).exists(), f"{stage.name}: COPY source {source} is missing"


def test_dependencies_are_installed_before_the_source_is_copied(stages):
    deps = stages["deps"].instructions
    assert ("COPY", "pyproject.toml uv.lock ./") in deps
    assert not any(i == "COPY" and v.startswith(".") for i, v in deps)
    for target in TARGETS:  # every target carries the source (the edge renders its configuration with it)
        copies = [v for i, v in stages[target].instructions if i == "COPY"]
        assert copies[0].startswith("--from=deps")
        assert copies[-1] == ". /app"


def test_every_dependency_comes_from_the_lock_as_make_install_installs_it(stages):
    runs = {name: " ".join(v for i, v in stage.instructions if i == "RUN") for name, stage in stages.items()}
    assert "pip install --require-hashes --no-deps -r requirements/uv.txt" in runs["deps"]
    for name in ("deps", "deps-bench", "deps-edge"):
        installs = re.findall(r"\b(?:pip|uv pip|uv sync)\b[^&]*", runs[name])
        assert installs, name
        # Only two ways in: uv pinned by hash, and uv sync from the lock, from wheels only.
        for command in installs:
            assert ("--locked" in command and "--no-build" in command) or "--require-hashes" in command, command
    makefile = (ROOT / "Makefile").read_text()
    assert "$(UV) sync --locked --extra dev --no-build" in makefile


def test_no_image_compiles_anything_or_carries_a_compiler(stages):
    text = (ROOT / "Dockerfile").read_text()
    for word in ("gcc", "libc6-dev", "build-essential", "apt-get", "meinheld"):
        assert word not in " ".join(v for stage in stages.values() for i, v in stage.instructions if i == "RUN"), word
    assert "--no-build-isolation" not in text


def test_every_target_runs_as_the_non_root_user_the_manifests_expect(stages):
    pod = yaml.safe_load((ROOT / "deploy/k8s/base/service-defaults.yaml").read_text())["spec"]["template"]["spec"]
    expected = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    assert expected == f"{APP_UID}:{APP_UID}"
    for target in TARGETS:
        user = user_of(stages, target)
        assert user == expected, f"{target} runs as {user}"
        assert user.split(":")[0] not in ("root", "0")


def test_every_target_starts_through_the_entrypoint_that_exports_the_password_file(stages):
    entrypoints = [v for stage in stages.values() for i, v in stage.instructions if i == "ENTRYPOINT"]
    assert entrypoints == [f'["{ENTRYPOINT}"]']
    assert "ENTRYPOINT" in [i for i, _ in stages["app"].instructions]
    for target in TARGETS:
        assert stages[target].parent == "app"
    (copy,) = [v for i, v in stages["app"].instructions if i == "COPY"]
    source, destination = copy.split()
    assert destination == ENTRYPOINT
    assert os.access(ROOT / source, os.X_OK)  # the legacy builder keeps the file's mode (no COPY --chmod there)


def _entrypoint(env: dict[str, str]) -> str:
    """What a command sees as REDIS_PASSWORD once started through the entrypoint."""
    argv = ["sh", str(ROOT / "deploy/docker/entrypoint.sh"), "sh", "-c", 'printf %s "${REDIS_PASSWORD-unset}"']
    result = subprocess.run(argv, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True,
                            timeout=30, check=True)  # fmt: skip
    return result.stdout


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_the_entrypoint_exports_the_password_of_the_file_whatever_the_environment_holds(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-the-volume")
    assert _entrypoint({"REDIS_PASSWORD_FILE": str(secret)}) == "from-the-volume"
    assert _entrypoint({"REDIS_PASSWORD_FILE": str(secret), "REDIS_PASSWORD": "stale"}) == "from-the-volume"
    assert _entrypoint({"REDIS_PASSWORD": "given"}) == "given"  # no file: untouched (Kubernetes)
    assert _entrypoint({}) == "unset"


def _dry_run(project: Path, venv: Path) -> subprocess.CompletedProcess:
    """uv's plan for `make install` (the lock, dev extra, wheels only) into a scratch environment: nothing is
    downloaded or installed, and a locked package without a wheel for this platform is an error."""
    argv = [str(UV), "sync", "--locked", "--no-build", "--extra", "dev", "--dry-run", "--offline",
            "--python", sys.executable]  # fmt: skip
    env = os.environ | {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by make install")
def test_the_locked_install_needs_no_build_from_source(tmp_path):
    result = _dry_run(ROOT, tmp_path / "venv")
    assert result.returncode == 0, result.stderr
    assert "Would install" in result.stderr or "Would install" in result.stdout
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(not UV.exists(), reason="uv is installed by make install")
def test_the_no_build_check_fails_for_a_locked_package_without_a_wheel(tmp_path):
    # The same lock with one package's wheels removed: only its source distribution is left.
    lock = (ROOT / "uv.lock").read_text()
    start = lock.index('[[package]]\nname = "tqdm"')
    end = lock.index("[[package]]", start + 1)
    package = re.sub(r"wheels = \[.*?\n\]\n", "", lock[start:end], flags=re.S)
    assert "sdist = " in package
    assert "wheels" not in package
    (tmp_path / "uv.lock").write_text(lock[:start] + package + lock[end:])
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _dry_run(tmp_path, tmp_path / "venv")
    assert result.returncode != 0
    assert "no binary distribution" in result.stderr


def test_build_context_allows_every_package_and_the_benchmark_suite():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    exceptions = [n for n, line in enumerate(lines) if line.startswith("!")]
    assert "*" in lines
    assert lines.index("*") < min(exceptions), "an allowlist: everything out, then exceptions"
    # Every package of the map a container runs (deploygen too: the edge's command and compose's redis-auth).
    architecture = (ROOT / "doc" / "architecture.md").read_text()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py") if f"| `{p.parent.name}` |" in architecture}
    assert "deploygen" in packages
    assert packages - {"tests"} | {"pyproject.toml", "uv.lock", LOCUSTFILE.split("/")[0]} <= allowed
    assert "requirements/uv.txt" in allowed
    assert "deploy/docker/entrypoint.sh" in allowed
