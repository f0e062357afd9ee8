"""Reading GNU make's signal dispositions: a real make, signalled alone, is seen dying of that signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from system_launcher.make_parent import make_dying_of
from system_launcher.polling import wait_until
from system_launcher.procfs import children


@pytest.fixture
def make_with_a_recipe(tmp_path):
    (tmp_path / "Makefile").write_text("wait:\n\texec sleep 30\n")
    make = subprocess.Popen(["make", "--no-print-directory", "-C", str(tmp_path), "wait"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: children(make.pid), 10)
        yield make
    finally:
        os.killpg(make.pid, signal.SIGKILL)
        make.wait()


def test_a_running_make_is_not_dying(make_with_a_recipe):
    assert make_dying_of(make_with_a_recipe.pid) is None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_make_signalled_alone_is_seen_dying_of_that_signal(make_with_a_recipe, sig):
    os.kill(make_with_a_recipe.pid, sig)  # make alone: its recipe's process never gets it
    wait_until(lambda: make_dying_of(make_with_a_recipe.pid) == sig, 10)


def test_other_processes_and_gone_ones_are_not_make():
    assert make_dying_of(os.getpid()) is None
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert make_dying_of(done.pid) is None
