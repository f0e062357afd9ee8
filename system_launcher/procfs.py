"""Reading processes from ``/proc``: liveness, children, CPU, memory, file descriptors (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

# The CPU readers live below, where a service can read its own; re-exported here for the launcher and benchmark.
from service_runtime.core.proc import PROC, TICKS, in_groups
from service_runtime.core.proc import cpu_s as cpu_s
from service_runtime.core.proc import cpu_s_by_group as cpu_s_by_group
from service_runtime.core.proc import group_cpu_s as group_cpu_s
from service_runtime.core.proc import stat_fields as _stat_fields


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
