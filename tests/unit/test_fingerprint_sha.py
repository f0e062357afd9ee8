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
