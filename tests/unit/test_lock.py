"""The install is the lock: uv.lock pins every dependency, and this environment holds exactly those versions."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Installed beside the lock on purpose: meinheld (requirements/meinheld.txt, see the Makefile), and the
# virtualenv's own pip, which bootstraps uv and which `uv sync` leaves alone.
OUTSIDE_THE_LOCK = {"meinheld", "pip"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {normalized(p["name"]): p["version"] for p in lock["package"] if "version" in p}


def pinned(path: Path) -> dict[str, str]:
    return {normalized(n): v for n, v in re.findall(r"^([\w.-]+)==([\w.]+)", path.read_text(), re.MULTILINE)}


def test_the_bootstrap_uv_is_the_locked_uv():
    assert pinned(ROOT / "requirements" / "uv.txt") == {"uv": locked_versions()["uv"]}


def test_every_pin_outside_the_lock_carries_hashes():
    for path in (ROOT / "requirements").glob("*.txt"):
        requirements = [line for line in path.read_text().splitlines() if re.match(r"^[\w.-]+==", line)]
        assert requirements, path
        assert all(line.rstrip().endswith("\\") for line in requirements), f"{path.name}: a pin without --hash"
    assert set(pinned(ROOT / "requirements" / "meinheld.txt")) == {"meinheld"}


def test_this_environment_holds_exactly_the_locked_versions():
    uv = Path(sys.executable).with_name("uv")
    check = subprocess.run([str(uv), "sync", "--locked", "--extra", "dev", "--inexact", "--check"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr  # every locked package, at its locked version
    installed = {normalized(d.metadata["Name"]) for d in metadata.distributions()}
    assert installed - set(locked_versions()) - OUTSIDE_THE_LOCK == set(), "installed but not locked"
