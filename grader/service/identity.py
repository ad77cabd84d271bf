"""Who holds a lease or owns a container: a process, named so that another one can tell
whether it still exists.

A name alone (host and pid) is not enough: pids are reused, and after a reboot
every pid is new. So an owner is its host, the kernel's boot id with its pid
namespace, its pid, and the time its process started (clock ticks after boot,
from ``/proc``). A process on the same host, boot and namespace can then check
an owner directly: gone when no process has that pid, or one does but started
at another time. An owner on another machine, or in another pid namespace,
cannot be checked from here (its lease runs out instead).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..procfs import read_stat


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), None if there is none."""
    stat = read_stat(pid)
    return None if stat is None else stat.start_ticks


def _read(path: str, *, link: bool = False) -> str:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Owner:
    """A process, checkable from its host (see the module docstring)."""

    host: str
    boot: str  # "<boot id>:<pid namespace>"; empty where /proc cannot tell
    pid: int
    start: int

    @staticmethod
    @cache
    def _here(pid: int) -> Owner:
        boot_id = _read("/proc/sys/kernel/random/boot_id")
        namespace = _read("/proc/self/ns/pid", link=True).removeprefix("pid:[").removesuffix("]")
        boot = f"{boot_id}:{namespace}" if boot_id else ""
        return Owner(socket.gethostname(), boot, pid, process_start(pid) or 0)

    @classmethod
    def current(cls) -> Owner:
        """This process (computed once per process; a fork gets its own)."""
        return cls._here(os.getpid())

    def label(self) -> str:
        """As one string (a container label): ``host/boot/pid/start``."""
        return f"{self.host}/{self.boot}/{self.pid}/{self.start}"

    @classmethod
    def parse(cls, label: str) -> Owner | None:
        parts = label.rsplit("/", 3)
        if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), int(parts[3]))

    def gone(self, here: Owner | None = None) -> bool:
        """Whether this owner surely no longer exists, as seen from ``here`` (this process).

        False when it cannot be told from here: another host, another pid namespace.
        """
        here = here or Owner.current()
        if self.host != here.host or not self.boot or not here.boot:
            return False
        boot_id, _, namespace = self.boot.partition(":")
        here_boot, _, here_namespace = here.boot.partition(":")
        if boot_id != here_boot:
            return True  # the machine rebooted since: every process of then is gone
        if namespace != here_namespace:
            return False
        return process_start(self.pid) != self.start
