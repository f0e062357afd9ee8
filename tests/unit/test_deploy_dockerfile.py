"""The Dockerfile: its targets exist, copy what exists, run as the non-root user Kubernetes expects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from deploygen.containers import BENCH, EDGE, RUNTIME, RUNTIME_MEINHELD
from system_launcher.registry import LOCUSTFILE

ROOT = Path(__file__).resolve().parents[2]
TARGETS = (RUNTIME, RUNTIME_MEINHELD, BENCH)  # the Python targets, which carry the source
ALL_TARGETS = (*TARGETS, EDGE)


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
    assert set(ALL_TARGETS) <= set(stages)
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
    for target in TARGETS:
        copies = [v for i, v in stages[target].instructions if i == "COPY"]
        assert copies[0].startswith("--from=deps")
        assert copies[-1] == ". /app"


def test_every_dependency_comes_from_the_lock_as_make_install_installs_it(stages):
    runs = {name: " ".join(v for i, v in stage.instructions if i == "RUN") for name, stage in stages.items()}
    assert "pip install --require-hashes --no-deps -r requirements/uv.txt" in runs["deps"]
    for name in ("deps", "deps-meinheld", "deps-bench", "deps-edge"):
        installs = re.findall(r"\b(?:pip|uv pip|uv sync)\b[^&]*", runs[name])
        assert installs, name
        # Only three ways in: uv pinned by hash, uv sync --locked, and meinheld's hashed requirement.
        for command in installs:
            assert "--locked" in command or "--require-hashes" in command, f"{name}: {command}"
    makefile = (ROOT / "Makefile").read_text()
    assert "$(UV) sync --locked --extra dev" in makefile


def test_every_target_runs_as_the_non_root_user_the_manifests_expect(stages):
    pod = yaml.safe_load((ROOT / "deploy/k8s/base/service-defaults.yaml").read_text())["spec"]["template"]["spec"]
    expected = f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}"
    for target in ALL_TARGETS:
        user = user_of(stages, target)
        assert user == expected, f"{target} runs as {user}"
        assert user.split(":")[0] not in ("root", "0")


def test_meinheld_is_installed_as_make_install_installs_it(stages):
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\n$(STAMP):") :].split("\n\n")[0]
    dockerfile_runs = " ".join(v for i, v in stages["deps-meinheld"].instructions if i == "RUN")
    for steps in (recipe, dockerfile_runs):
        assert "--no-deps --no-build-isolation --require-hashes" in steps
        assert "-r requirements/meinheld.txt" in steps
    assert "--extra meinheld" in dockerfile_runs  # its build dependencies, from the lock
    assert "--extra dev" in recipe  # dev includes the meinheld extra
    runtime_meinheld = [v for i, v in stages[RUNTIME_MEINHELD].instructions if i == "COPY"]
    assert runtime_meinheld[0].startswith("--from=deps-meinheld ")


def test_build_context_allows_every_package_and_the_benchmark_suite():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    exceptions = [n for n, line in enumerate(lines) if line.startswith("!")]
    assert "*" in lines
    assert lines.index("*") < min(exceptions), "an allowlist: everything out, then exceptions"
    # Every package a container runs; deploygen writes the deployment files in a checkout and needs no image.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "deploygen"}
    assert packages | {"pyproject.toml", "uv.lock", "requirements", LOCUSTFILE.split("/")[0]} <= allowed
