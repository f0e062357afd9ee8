"""Reading processes from /proc: CPU per process group, and a process's status fields."""

from __future__ import annotations

import os
import subprocess
import sys

from system_launcher.polling import wait_until
from system_launcher.procfs import cpu_s_by_group, group_cpu_s, rss_kib, status_fields

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ntime.sleep(30)"


def test_cpu_is_read_per_group_and_adds_up_to_the_groups_total():
    burners = [subprocess.Popen([sys.executable, "-c", BURN], start_new_session=True) for _ in range(2)]
    try:
        groups = {p.pid for p in burners}
        wait_until(lambda: min(cpu_s_by_group(groups).values()) >= 0.3, 30)  # each burns 0.3 s of CPU, then sleeps
        by_group = cpu_s_by_group(groups | {999_999_999})  # a group with no process: 0
        assert by_group[999_999_999] == 0
        assert all(by_group[g] >= 0.3 for g in groups)
        assert abs(sum(by_group.values()) - group_cpu_s(groups)) < 0.02  # one pass each, both after the burn
    finally:
        for p in burners:
            p.kill()
            p.wait()


def test_status_fields_of_a_live_process_and_of_a_gone_one():
    fields = status_fields(os.getpid())
    assert fields["Name"]
    assert int(fields["Pid"]) == os.getpid()
    assert fields["VmRSS"].endswith(" kB")
    assert rss_kib(os.getpid()) > 0
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert status_fields(done.pid) is None
    assert rss_kib(done.pid) == 0
