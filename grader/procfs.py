"""The one reader of ``/proc/<pid>/stat``: the judge's CPU clocks and sweeps, the service's
lease owners.

A process's name (between the parentheses) is the student's to choose and may hold
spaces and parentheses, so the fields are read after the LAST ``)``. A process that
is gone, a /proc that cannot be read or a line of another shape gives None: callers
decide what an unknown process means for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")  # clock ticks per second, the unit of the CPU and start fields
STOPPED = (b"T", b"t")  # stopped by a signal, or by a tracer


@dataclass(frozen=True)
class Stat:
    """The fields of one process's stat line that the grader reads."""

    state: bytes  # R, S, D, Z, T, t...
    parent: int
    group: int  # process group id
    cpu_ticks: int  # user + system time, its own and its reaped children's
    start_ticks: int  # when it started, in ticks after boot

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ticks / TICKS


def parse(line: bytes) -> Stat:
    """A stat line's fields (ValueError or IndexError when it has another shape)."""
    fields = line.rsplit(b")", 1)[1].split()
    return Stat(
        state=fields[0],
        parent=int(fields[1]),
        group=int(fields[2]),
        cpu_ticks=sum(int(x) for x in fields[11:15]),  # utime stime cutime cstime
        start_ticks=int(fields[19]),
    )


def read_stat(pid: int | str) -> Stat | None:
    """The stat of process ``pid`` (or ``"self"``), or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return parse(handle.read())
    except (OSError, IndexError, ValueError):
        return None


def read_stat_at(fd: int) -> Stat | None:
    """The stat from an open ``/proc/<pid>/stat`` (re-read in place: no open per look)."""
    try:
        return parse(os.pread(fd, 4096, 0))
    except (OSError, IndexError, ValueError):
        return None


def pids() -> list[int] | None:
    """Every process id in /proc, or None without a readable /proc."""
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None


def uptime() -> float | None:
    """Seconds since boot, or None."""
    try:
        with open("/proc/uptime", "rb") as handle:
            return float(handle.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
