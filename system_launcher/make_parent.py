"""Noticing that GNU make, our parent under ``make up``, is dying of a signal that never reached us.

A signal sent to make's process group while make spawns the recipe reaches make only: the new process did not exist
yet. Make's handler then resets that signal to its default and waits for the recipe's process to end, which, never
signalled, runs on. (Reproduced with a bare ``exec sleep`` recipe on a loaded machine; a script that signals make's
pid alone does the same.) The launcher reads make's signal dispositions instead: make catches SIGINT and SIGTERM from
its start unless they are ignored, so one that is neither caught nor ignored any more is the one it is dying of.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from system_launcher.procfs import status_fields

MAKE_NAMES = ("make", "gmake")
WATCHED = (signal.SIGINT, signal.SIGTERM)


def make_dying_of(pid: int) -> int | None:
    """The signal GNU make ``pid`` is handling (SIGINT or SIGTERM), or None: not make, gone, or not signalled."""
    fields = status_fields(pid)
    if fields is None or fields.get("Name") not in MAKE_NAMES:
        return None
    handled = int(fields["SigCgt"], 16) | int(fields["SigIgn"], 16)
    return next((sig for sig in WATCHED if not handled & (1 << (sig - 1))), None)


def watch_make_parent(on_signal: Callable[[int], None], stopped: Callable[[], bool], tick_s: float = 0.2) -> None:
    """Until ``stopped()``: call ``on_signal(sig)`` once if our parent is make dying of ``sig`` (run in a thread)."""
    parent = os.getppid()
    if (status_fields(parent) or {}).get("Name") not in MAKE_NAMES:
        return
    while not stopped():
        sig = make_dying_of(parent)
        if sig is not None:
            on_signal(sig)
            return
        time.sleep(tick_s)
