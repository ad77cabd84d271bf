"""The /proc stat reader: every field from the right place, whatever the process's name."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from grader import procfs


def test_a_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    line = b"4242 (a) b ) (c) S 17 4242 4242 0 -1 4194560 0 0 0 0 7 5 3 2 20 0 1 0 991 0 0"
    stat = procfs.parse(line)
    assert (stat.state, stat.parent, stat.group) == (b"S", 17, 4242)
    assert stat.cpu_ticks == 7 + 5 + 3 + 2 and stat.start_ticks == 991


def test_short_or_garbled_lines_are_refused() -> None:
    for line in (b"", b"1 (x) S 0 1", b"1 (x) S zero 1 1 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 5"):
        with pytest.raises((ValueError, IndexError)):
            procfs.parse(line)


@pytest.mark.skipif(
    not os.path.isdir("/proc/self"),
    reason="reads a live process through Linux's /proc, which this system has not",
)
def test_a_live_child_is_read_and_a_gone_one_is_none() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\n"
            "while time.process_time() - t < 0.3: pass\ntime.sleep(30)",
        ],
    )
    try:
        time.sleep(1.0)
        stat = procfs.read_stat(child.pid)
        assert stat is not None and stat.parent == os.getpid()
        assert stat.cpu_seconds >= 0.2, "its busy loop is counted"
        me = procfs.read_stat("self")
        assert me is not None and me.start_ticks <= stat.start_ticks
        assert child.pid in (procfs.pids() or [])
    finally:
        child.kill()
        child.wait()
    assert procfs.read_stat(child.pid) is None
    now = procfs.uptime()
    assert now is not None and now > 0
