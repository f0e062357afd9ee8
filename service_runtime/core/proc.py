"""Process CPU from ``/proc`` (Linux): what a service reports of itself and what the launcher and the benchmark
measure of whole process groups (``system_launcher.procfs`` builds on it)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces), or None if gone."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def in_groups(pgids: set[int]) -> Iterator[int]:
    """Pids of every live process in these process groups."""
    for stat in PROC.glob("[0-9]*/stat"):
        fields = stat_fields(stat.parent.name)
        if fields is not None and int(fields[2]) in pgids:  # field 5 of stat(5): pgrp
            yield int(stat.parent.name)


def cpu_s(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes, children they reaped included."""
    total = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is not None:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / TICKS


def group_cpu_s(pgids: set[int]) -> float:
    """CPU seconds of every live process in these process groups (a service: its master and workers)."""
    return sum(cpu_s_by_group(pgids).values())


def cpu_s_by_group(pgids: set[int]) -> dict[int, float]:
    """CPU seconds of every live process in these process groups, per group, from one pass over ``/proc``."""
    ticks = dict.fromkeys(pgids, 0)
    for stat in PROC.glob("[0-9]*/stat"):
        fields = stat_fields(stat.parent.name)
        if fields is not None and int(fields[2]) in ticks:  # field 5 of stat(5): pgrp
            ticks[int(fields[2])] += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return {group: t / TICKS for group, t in ticks.items()}


def thread_cpu_s(pids: Iterable[int]) -> dict[str, float]:
    """User + system CPU seconds of the live threads of these processes, summed by thread name (``comm``: the
    process's name for Python's own threads, the native name a library gives its threads, such as gRPC's)."""
    found: dict[str, float] = {}
    for pid in pids:
        for task in (PROC / str(pid) / "task").glob("[0-9]*"):
            fields = stat_fields(f"{pid}/task/{task.name}")
            try:
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            if fields is not None:
                found[name] = found.get(name, 0.0) + sum(int(f) for f in fields[11:13]) / TICKS
    return found
