"""A result's git sha says ``-dirty`` only for changes to what was measured, not for what earlier phases wrote."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.stacks import fingerprint

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _repo(tmp_path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "README.md").write_text("readme\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "doc" / "results").mkdir(parents=True)
    (tmp_path / "doc" / "results" / "r.json").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return tmp_path


def test_results_and_the_readme_block_written_by_earlier_phases_do_not_make_a_run_dirty(tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    monkeypatch.setattr(fingerprint, "ROOT", repo)
    (repo / "doc" / "results" / "r.json").write_text('{"new": 1}\n')
    (repo / "README.md").write_text("readme with a new results block\n")
    assert not fingerprint.git_sha().endswith("-dirty")
    (repo / "code.py").write_text("x = 2\n")
    assert fingerprint.git_sha().endswith("-dirty")


def _commit(repo: Path, message: str) -> None:
    subprocess.run(["git", "add", "."], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=repo,
                   check=True, capture_output=True)  # fmt: skip


def test_committing_results_or_prose_keeps_the_code_sha_and_committing_code_changes_it(tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    monkeypatch.setattr(fingerprint, "ROOT", repo)
    before = fingerprint.code_sha()
    (repo / "doc" / "results" / "r.json").write_text('{"new": 1}\n')
    (repo / "doc" / "notes.md").write_text("prose\n")
    _commit(repo, "results")
    assert fingerprint.code_sha() == before
    assert fingerprint.git_sha() != before
    (repo / "code.py").write_text("x = 2\n")
    assert fingerprint.code_sha() == before + "-dirty"
    _commit(repo, "code")
    assert fingerprint.code_sha() not in (before, before + "-dirty")


def test_a_phase_counts_as_run_only_when_marked_finished_with_the_same_code_and_settings(tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    monkeypatch.setattr(fingerprint, "ROOT", repo)
    phase = repo / "doc" / "results" / "curves"
    fingerprint.write_fingerprint(phase, seed=42)
    assert fingerprint.same_run(phase, seed=42)
    assert not fingerprint.finished_here(phase, seed=42)  # started, stopped before the end
    fingerprint.mark_finished(phase)
    assert fingerprint.finished_here(phase, seed=42)
    assert not fingerprint.finished_here(phase, seed=7)  # other settings: another run
    _commit(repo, "results")
    assert fingerprint.finished_here(phase, seed=42)  # committing the results does not change the code
    (repo / "code.py").write_text("x = 2\n")
    assert not fingerprint.finished_here(phase, seed=42)  # uncommitted code: nothing to resume against
    _commit(repo, "code")
    assert not fingerprint.finished_here(phase, seed=42)
