"""Owners of leases and containers: who can tell that a process is gone."""

from __future__ import annotations

import os
import subprocess
import sys

from grader.service.identity import Owner, process_start


def ended_child() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_named_and_alive() -> None:
    here = Owner.current()
    assert here.pid == os.getpid() and here.start == process_start(os.getpid()) > 0
    assert here.boot.count(":") == 1 and all(here.boot.split(":"))
    assert not here.gone() and Owner.parse(here.label()) == here
    assert Owner.parse("not a label") is None and Owner.parse("h/b/x/1") is None


def test_a_process_that_ended_or_whose_pid_was_reused_is_gone() -> None:
    here = Owner.current()
    assert Owner(here.host, here.boot, ended_child(), 1).gone(here)
    assert Owner(here.host, here.boot, here.pid, here.start + 1).gone(here)  # reused pid


def test_what_cannot_be_checked_from_here_is_never_called_gone() -> None:
    here = Owner.current()
    dead = ended_child()
    boot_id = here.boot.split(":")[0]
    assert not Owner("another-host", here.boot, dead, 1).gone(here)
    assert not Owner(here.host, f"{boot_id}:4026531999", dead, 1).gone(here)  # other pid ns
    assert not Owner(here.host, "", dead, 1).gone(here)  # no /proc there
    assert Owner(here.host, "another-boot:1", here.pid, here.start).gone(here)  # rebooted
