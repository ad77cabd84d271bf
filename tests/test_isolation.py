"""What keeps one worker from another and from the judge (issue 22), on live workers.

The worker's own folder per fresh worker, its seccomp filter and oom_score_adj, a
stopped worker detected without waiting for the wall clock, the cgroup counters'
parsing. The same promises through Docker are in the attack bank
(tests/attacks/bank.py: scratch_files_nomask, shared_memory_nomask,
cpu_in_setsid_grandchild, sigstop_*, memory_*, oom_score_lowered,
syscalls_a_model_never_needs).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import cast

import pytest
from support import local_worker

from grader.judge.failures import StudentError, describe
from grader.judge.worker_client import (
    CGROUP_CPU,
    STOPPED_MESSAGE,
    CgroupCounter,
    ConfinementFailed,
    WorkerClient,
    seccomp_library,
)

HAS_SECCOMP = sys.platform == "linux" and importlib.util.find_spec("pyseccomp") is not None

PROBE = """
import os, signal, socket, mmap
from engine import Value
from nn import Module

class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.w = [Value(1.0) for _ in range(dim)]
    def forward(self, x):
        kind = int(x[0].data)
        if kind == 1:  # what is in my folder, then leave something there
            seen = len(os.listdir("."))
            try:
                open("left-behind", "w").write("x")
                wrote = 1.0
            except OSError:
                wrote = 0.0
            return [Value(float(seen)), Value(wrote), Value(float(len(os.getcwd())))]
        if kind == 2:  # stop my own process group
            os.kill(0, signal.SIGSTOP)
        if kind == 3:  # what the filter refuses, one bit each
            refused = 0
            for bit, call in enumerate((
                socket.socketpair,
                os.pipe,
                lambda: mmap.mmap(-1, 4096),
                lambda: os.kill(os.getppid(), 0),
                lambda: open("/proc/self/oom_score_adj", "w").write("0"),
            )):
                try:
                    call()
                except PermissionError:
                    refused |= 1 << bit
            adj = float(open("/proc/self/oom_score_adj").read())
            child = os.fork()  # a model may still fork, read files and allocate
            if child == 0:
                os._exit(7)
            status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
            return [Value(float(refused)), Value(adj), Value(float(status))]
        return [a * w for a, w in zip(x, self.w)]
"""


def _client(tmp_path: Path, seccomp: Path | None = None) -> WorkerClient:
    path = tmp_path / "minigpt.py"
    path.write_text(PROBE, encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return cast(WorkerClient, local_worker(path, seccomp=seccomp, scratch=scratch))


def _forward(client: WorkerClient, kind: float) -> list[float]:
    handle = client.request("new", 5, cls="LayerNorm", args=[3], kwargs={}, seed=1)["handle"]
    return list(client.request("forward", 5, handle=handle, input=[kind, 0.0, 0.0])["data"])


def test_each_fresh_worker_has_its_own_empty_folder_removed_with_it(tmp_path: Path) -> None:
    client = _client(tmp_path)
    try:
        seen, wrote, _ = _forward(client, 1.0)
        assert (seen, wrote) == (0.0, 1.0)  # no filter here: it could write, in its own folder
        folders = list((tmp_path / "scratch").glob("worker-*"))
        assert len(folders) == 1 and (folders[0] / "left-behind").exists()
        client.close()
        assert not folders[0].exists()  # removed with the worker
        client.start()
        seen, _, _ = _forward(client, 1.0)
        assert seen == 0.0  # the next worker's folder is empty: nothing carried over
    finally:
        client.shutdown()
    assert list((tmp_path / "scratch").iterdir()) == []  # the fork server's went too


def test_a_stopped_worker_fails_at_once_not_at_the_wall_clock(tmp_path: Path) -> None:
    client = _client(tmp_path)
    try:
        with pytest.raises(StudentError) as caught:
            _forward(client, 2.0)
        assert caught.value.kind == "timeout"
        assert STOPPED_MESSAGE in describe(caught.value.record)  # seen stopped, not timed out
        assert _forward(client, 0.0) == [0.0, 0.0, 0.0]  # a fresh worker answers again
    finally:
        client.shutdown()


@pytest.mark.skipif(not HAS_SECCOMP, reason="libseccomp's bindings are Linux-only")
def test_the_filter_refuses_what_a_model_never_needs_and_allows_the_rest(tmp_path: Path) -> None:
    client = _client(tmp_path, seccomp_library("required"))
    try:
        assert _forward(client, 4.0) == [4.0, 0.0, 0.0]  # an ordinary forward
        seen, wrote, _ = _forward(client, 1.0)
        assert (seen, wrote) == (0.0, 0.0)  # not even its own folder takes a file
        refused, adj, status = _forward(client, 3.0)
        assert refused == 0b11111  # socketpair, pipe, MAP_SHARED, kill(ppid), lowering adj
        assert adj == 1000.0  # the OOM killer's first choice, for good
        assert status == 7.0
    finally:
        client.shutdown()


def test_a_filter_that_cannot_be_installed_is_the_graders_failure(tmp_path: Path) -> None:
    client = _client(tmp_path, seccomp=tmp_path / "no-bindings-here")
    try:
        with pytest.raises(ConfinementFailed):  # not a StudentError: never a student's zero
            client.start()
    finally:
        client.shutdown()


def test_seccomp_library_modes() -> None:
    assert seccomp_library("off") is None
    if HAS_SECCOMP:
        found = seccomp_library("required")
        assert found is not None and (found / "pyseccomp.py").exists()


def test_cgroup_counters_read_v1_and_v2_files(tmp_path: Path) -> None:
    v1 = tmp_path / "cpuacct.usage"
    v1.write_text("2500000000\n")
    v2 = tmp_path / "cpu.stat"
    v2.write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    oom = tmp_path / "memory.oom_control"
    oom.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert CgroupCounter(((str(v1), b"", 1e-9),)).read() == pytest.approx(2.5)
    assert CgroupCounter(
        ((str(tmp_path / "none"), b"", 1e-9), (str(v2), b"usage_usec", 1e-6))
    ).read() == pytest.approx(1.5)
    assert CgroupCounter(((str(oom), b"oom_kill", 1.0),)).read() == 3.0
    assert CgroupCounter(((str(v2), b"", 1e-9),)).read() is None  # no bare number there
    assert len(CGROUP_CPU) == 3  # v1 (two mount names) and v2


def test_a_fork_server_stopped_at_import_fails_at_once_with_its_reason(tmp_path: Path) -> None:
    from grader.judge.runner import import_error

    client = _client(tmp_path)
    path = tmp_path / "stops.py"
    path.write_text("import os, signal\nos.kill(0, signal.SIGSTOP)\n", encoding="utf-8")
    client.spec = dataclasses.replace(client.spec, submission=path)
    try:
        with pytest.raises(StudentError) as caught:
            client.start()
    finally:
        client.shutdown()
    info = import_error(caught.value, 10.0)
    assert info.kind == "timeout" and STOPPED_MESSAGE in info.message  # not "within 10 s"
