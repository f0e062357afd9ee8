"""CPU seconds used by process groups, read from /proc: the cost of each request, all services summed."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_s(pgids: set[int]) -> float:
    """User + system CPU seconds of every live process in these process groups, children it reaped included."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces: fields are counted after its closing parenthesis.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) in pgids:  # field 5 of stat(5): pgrp
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICKS


def machine_cpu_s() -> dict[str, float]:
    """Busy, steal and total CPU seconds of the whole machine since boot (other tenants included)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return {"busy_s": busy / TICKS, "steal_s": steal / TICKS, "total_s": (busy + idle + iowait + steal) / TICKS}
