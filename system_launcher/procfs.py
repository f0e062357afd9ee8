"""Reading processes from ``/proc``: liveness, children, CPU, memory, file descriptors (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces), or None if gone."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def in_groups(pgids: set[int]) -> Iterator[int]:
    """Pids of every live process in these process groups."""
    for stat in PROC.glob("[0-9]*/stat"):
        fields = _stat_fields(stat.parent.name)
        if fields is not None and int(fields[2]) in pgids:  # field 5 of stat(5): pgrp
            yield int(stat.parent.name)


def cpu_s(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes, children they reaped included."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
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
        fields = _stat_fields(stat.parent.name)
        if fields is not None and int(fields[2]) in ticks:  # field 5 of stat(5): pgrp
            ticks[int(fields[2])] += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return {group: t / TICKS for group, t in ticks.items()}


def thread_cpu_s(pids: Iterable[int]) -> dict[str, float]:
    """User + system CPU seconds of the live threads of these processes, summed by thread name (``comm``: the
    process's name for Python's own threads, the native name a library gives its threads, such as gRPC's)."""
    found: dict[str, float] = {}
    for pid in pids:
        for task in (PROC / str(pid) / "task").glob("[0-9]*"):
            fields = _stat_fields(f"{pid}/task/{task.name}")
            try:
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            if fields is not None:
                found[name] = found.get(name, 0.0) + sum(int(f) for f in fields[11:13]) / TICKS
    return found


def pid_alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def pid_stopped(pid: int) -> bool:
    """True if the process is stopped by a signal (SIGSTOP)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] == "T"


def children(pid: int) -> list[int]:
    """The direct children of every thread of ``pid``."""
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    found, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def status_fields(pid: int) -> dict[str, str] | None:
    """The fields of ``/proc/<pid>/status`` (None if the process is gone)."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (0 if gone, or a kernel thread without memory of its own)."""
    rss = (status_fields(pid) or {}).get("VmRSS")
    return int(rss.split()[0]) if rss else 0


def group_rss_kib(pgids: set[int]) -> int:
    """Resident memory of every live process in these process groups, in KiB."""
    return sum(rss_kib(pid) for pid in in_groups(pgids))


def fd_count(pid: int) -> int:
    """Open file descriptors of a process (0 if gone)."""
    try:
        return len(list((PROC / str(pid) / "fd").iterdir()))
    except OSError:
        return 0


def socket_count(pid: int) -> int:
    """Open sockets of a process."""
    try:
        fds = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return 0
    return sum(1 for fd in fds if _is_socket(fd))


def _is_socket(fd: Path) -> bool:
    try:
        return os.readlink(fd).startswith("socket:")
    except OSError:  # closed between listing the directory and reading the link
        return False


def machine_cpu_s() -> dict[str, float]:
    """Busy, steal and total CPU seconds of the whole machine since boot (other tenants included)."""
    fields = [int(f) for f in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return {"busy_s": busy / TICKS, "steal_s": steal / TICKS, "total_s": (busy + idle + iowait + steal) / TICKS}
