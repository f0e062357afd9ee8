"""The settings files: .env.example (production) and lab.env.example in step with the settings classes, each setting
declared once, production kept small, and an empty line meaning the default."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from deploygen.env_files import ENV_EXAMPLE, LAB_ENV_EXAMPLE, render_env_example, render_lab_env_example
from deploygen.platforms import compose_settings, k8s_settings
from deploygen.settings_catalog import (
    MAX_PRODUCTION_SETTINGS,
    PRODUCTION,
    SETTINGS_CLASSES,
    WIRING,
    declarations,
    settings,
)
from system_launcher.registry import SERVICES, JobWorker, job_worker_env, seed_env, service_env
from system_launcher.settings import StackSettings
from system_launcher.topology import STACKS

ROOT = Path(__file__).resolve().parents[2]
# The packages whose settings classes the system reads (every one must be in the catalog).
PACKAGES = ("reference", "apps", "inference_protocol", "model_serving", "job_queue", "job_worker", "feature_store",
            "server_variants", "system_launcher", "fault_injection", "benchmark")  # fmt: skip


def names_in(text: str) -> list[str]:
    """The variables an env file sets, in order."""
    return [line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]


def test_both_files_are_freshly_generated():
    assert (ROOT / ENV_EXAMPLE).read_text() == render_env_example(), "run `make deploy-files`"
    assert (ROOT / LAB_ENV_EXAMPLE).read_text() == render_lab_env_example(), "run `make deploy-files`"


def test_no_setting_is_declared_twice_across_classes():
    counts = Counter(s.name for s in declarations())
    assert [name for name, n in counts.items() if n > 1] == []


def test_the_duplicate_check_can_fail():
    # A class that declares REDIS_URL again is caught: the check reads declarations, not the classes' merged fields.
    class Again(BaseSettings):
        """A second declaration of REDIS_URL."""

        redis_url: str = "redis://elsewhere:6379/0"

    counts = Counter(s.name for s in declarations((*SETTINGS_CLASSES, Again)))
    assert counts["REDIS_URL"] == 2


def test_production_holds_at_most_40_settings_each_once_and_no_wiring():
    production = names_in((ROOT / ENV_EXAMPLE).read_text())
    assert len(production) == len(set(production)) <= MAX_PRODUCTION_SETTINGS
    assert set(production) == PRODUCTION
    for one in ("REDIS_URL", "REDIS_PASSWORD", "MAX_BODY_BYTES"):
        assert production.count(one) == 1
    assert set(production) & WIRING == set()


def test_every_setting_is_in_exactly_one_file_or_is_wiring():
    production = names_in((ROOT / ENV_EXAMPLE).read_text())
    lab = names_in((ROOT / LAB_ENV_EXAMPLE).read_text())
    every = [s.name for s in declarations()]
    assert set(production) & set(lab) == set()
    assert sorted(production + lab + sorted(WIRING)) == sorted(every)
    # The classification names only settings that exist: a renamed setting fails here.
    assert set(every) >= PRODUCTION | WIRING


def test_the_lab_file_holds_the_lab_knobs_and_no_production_one():
    lab = set(names_in((ROOT / LAB_ENV_EXAMPLE).read_text()))
    for knob in ("STACK_JOB_WORKERS", "MODEL_WAIT_MIN_MS", "MODEL_KIND", "MODEL_MAX_BATCH_SIZE",
                 "SCORING_MODEL_PROTOCOL", "SCORING_FANOUT", "BENCH_LOCUST_PROCESSES", "WORKER_POLL_S"):  # fmt: skip
        assert knob in lab, knob
    assert not any(name.startswith(("BENCH_", "STACK_")) for name in PRODUCTION)


def test_whatever_the_launcher_compose_or_kubernetes_sets_per_process_is_wiring_or_production():
    envs = []
    for platform in (StackSettings(), compose_settings(), *(k8s_settings(stack) for stack in STACKS)):
        envs += [service_env(svc, platform) for svc in SERVICES] + [seed_env(platform)]
        envs += [job_worker_env(JobWorker(stack), platform) for stack in STACKS]
    per_process = {key for env in envs for key in env}
    assert per_process - PRODUCTION <= WIRING
    assert {"SERVER_NAME", "SERVER_PORT", "SCORING_MODEL_URLS", "WORKER_STACK"} <= per_process - PRODUCTION


def test_every_settings_class_of_the_system_is_in_the_catalog():
    known = {cls.__name__ for cls in SETTINGS_CLASSES}
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if "BaseSettings" in bases or bases & known:
                        found.add(node.name)
    assert found - known == set()


def test_an_empty_line_means_the_default(tmp_path, monkeypatch):
    # Copying .env.example to .env changes nothing: every value is empty, which pydantic-settings ignores.
    (tmp_path / ".env").write_text((ROOT / ENV_EXAMPLE).read_text() + (ROOT / LAB_ENV_EXAMPLE).read_text())
    monkeypatch.chdir(tmp_path)
    for cls in SETTINGS_CLASSES:
        for name in cls.model_fields:
            monkeypatch.delenv(name.upper(), raising=False)
    for setting in declarations():
        monkeypatch.delenv(setting.name, raising=False)
    for cls in SETTINGS_CLASSES:
        loaded = cls()
        assert loaded.model_fields_set == set(), cls.__name__
    assert StackSettings().starts_redis()  # an empty REDIS_URL still means make up starts its own Redis


@pytest.mark.parametrize("path", [ENV_EXAMPLE, LAB_ENV_EXAMPLE], ids=str)
def test_each_setting_comes_with_its_description_and_default(path):
    lines = (ROOT / path).read_text().splitlines()
    by_name = {s.name: s for s in settings()}
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            setting = by_name[line.split("=", 1)[0]]
            if setting.field.description:
                assert lines[i - 1].startswith(f"# {setting.field.description}"), line
            if setting.default_text():
                assert f"[default: {setting.default_text()}]" in lines[i - 1], line
