"""Children that die with the launcher: Linux's parent-death signal, set in the child before it runs its program."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# SIGTERM, not SIGKILL: a gunicorn or Granian master then stops its own workers, Redis closes its file cleanly.
DEATH_SIGNAL = signal.SIGTERM

try:  # loaded once in the launcher, so the forked child only makes the call
    _prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal, the launcher's own stop still applies
    _prctl = None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``DEATH_SIGNAL`` when this process dies (None off Linux)."""
    # A preexec_fn makes Popen fork() and run fork handlers: the launcher must never load gRPC, whose handlers can
    # kill such a child before it execs (grpc/grpc#43055). tests/unit/test_launcher_policy.py holds it to that.
    if _prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        _prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
        # The launcher may have died between fork and prctl: then no signal would ever come.
        if os.getppid() != parent:
            os.kill(os.getpid(), DEATH_SIGNAL)

    return preexec
