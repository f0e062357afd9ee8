"""Every entry point behaves like a command: ``--help`` describes it and every option's default, and changes nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "var", "tests", ".git"}


def entry_points() -> list[str]:
    """Every ``python -m`` target of the project: packages with ``__main__.py``, modules with a main guard."""
    found = set()
    for path in ROOT.glob("**/*.py"):
        parts = path.relative_to(ROOT).parts
        if SKIP_DIRS & set(parts):
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name == "__main__.py":
            found.add(module.removesuffix(".__main__"))
        elif re.search(r'^if __name__ == "__main__":', path.read_text(), re.MULTILINE):
            found.add(module)
    return sorted(found)


def subcommands(module: str) -> list[list[str]]:
    """The argv of ``--help`` for the command and for each of its subcommands."""
    help_text = run_help([module])
    found = [[module]]
    section = (
        help_text.split("positional arguments:", 1)[1].split("options:", 1)[0] if "EXPERIMENT" in help_text else ""
    )
    for line in section.splitlines():
        if match := re.match(r"^    (\w[\w-]*)\s", line):
            found.append([module, match.group(1)])
    return found


def run_help(argv: list[str]) -> str:
    result = subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return result.stdout


def option_entries(help_text: str) -> list[tuple[str, str]]:
    """(signature, help) of each option of a help text, whitespace collapsed (``-h`` left out)."""
    entries: list[list[str]] = []
    options = help_text.split("options:", 1)[1] if "options:" in help_text else ""
    for line in options.splitlines():
        if re.match(r"^  -", line):
            signature, _, help_ = line.strip().partition("  ")
            entries.append([signature, help_])
        elif entries and line.startswith("   "):
            entries[-1][1] += " " + line.strip()
    return [(s, " ".join(h.split())) for s, h in entries if not s.startswith("-h, --help")]


def git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True).stdout  # fmt: skip


def test_the_known_entry_points_are_found():
    assert {"system_launcher", "benchmark", "deploygen", "feature_store.seed", "fault_injection.proxy",
            "fault_injection.soak"} <= set(entry_points())  # fmt: skip


@pytest.mark.parametrize("module", entry_points())
def test_help_describes_every_option_and_changes_nothing(module):
    before = git_status()
    for argv in subcommands(module):
        text = run_help(argv)
        assert text.startswith("usage: "), argv
        description = text.split("\n\n")[1] if "\n\n" in text else ""
        assert description.strip(), f"{argv}: no description"
        assert not description.lstrip().startswith(("options:", "positional")), f"{argv}: no description"
        for signature, help_ in option_entries(text):
            assert re.search(r"[a-z]", re.sub(r"\(default: .*?\)", "", help_)), f"{argv}: {signature} has no help"
            assert re.search(r"\(default: .+?\)|\(required\)", help_), f"{argv}: {signature} shows no default"
    assert git_status() == before, f"{module} --help changed the working tree"
