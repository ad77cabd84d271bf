"""Handing the file to a judge that is already running: the frame on its stdin.

The reader is exercised on real pipes; the judge itself with ``--stdin`` as a
real process (what the Docker backend starts, minus the container).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import REFERENCE, REPO

from grader.judge.delivery import NO_SUBMISSION, NoSubmission, frame, private_copy, read_frame


def pipe_with(data: bytes, *, close: bool = True) -> int:
    """The read end of a pipe a thread fills with ``data`` (then closes, if asked)."""
    read_end, write_end = os.pipe()

    def fill() -> None:
        os.write(write_end, data) if len(data) < 4096 else _write_all(write_end, data)
        if close:
            os.close(write_end)

    threading.Thread(target=fill, daemon=True).start()
    return read_end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view[:65536]) :]


@pytest.mark.parametrize("size", [0, 1, 5000, 300_000])
def test_a_whole_frame_gives_back_the_exact_bytes(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    fd = pipe_with(frame(raw))
    try:
        assert read_frame(fd, limit=1_000_000, wait=10) == raw
    finally:
        os.close(fd)


def test_a_file_over_the_limit_keeps_one_byte_more_than_allowed() -> None:
    """Enough for the source policy to call it too large, never the whole of it."""
    fd = pipe_with(frame(b"a" * 50_000))
    try:
        assert read_frame(fd, limit=1000, wait=10) == b"a" * 1001
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "data",
    [b"", b"12", b"12\nshort", b"x1\nabc", b"9" * 40, b"2\nabc"],
    ids=["nothing", "no-newline", "cut-short", "not-a-number", "endless-header", "too-long"],
)
def test_anything_but_a_whole_frame_is_no_submission(data: bytes) -> None:
    fd = pipe_with(data)
    try:
        with pytest.raises(NoSubmission):
            read_frame(fd, limit=1000, wait=10)
    finally:
        os.close(fd)


def test_a_silent_host_is_given_up_on_after_the_wait() -> None:
    read_end, write_end = os.pipe()  # open, never written
    try:
        began = time.monotonic()
        with pytest.raises(NoSubmission, match="in time"):
            read_frame(read_end, limit=1000, wait=0.3)
        assert time.monotonic() - began < 5
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_private_copy_is_read_only_in_a_read_only_folder(tmp_path: Path) -> None:
    path = private_copy(b"x = 1\n", tmp_path / "minigpt.py")
    assert path.read_bytes() == b"x = 1\n" and path.name == "minigpt.py"
    assert path.parent.parent == tmp_path
    assert path.stat().st_mode & 0o777 == 0o444
    assert path.parent.stat().st_mode & 0o777 == 0o555
    path.parent.chmod(0o755)  # let pytest clean up


def judge_command(tmp_path: Path, *extra: str) -> list[str]:
    """The judge waiting for its file on stdin, to be written in ``tmp_path``."""
    where = str(tmp_path / "minigpt.py")
    return [sys.executable, "-m", "grader.judge", "--submission", where, "--stdin", *extra]


def judge(stdin: bytes, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        judge_command(tmp_path, *extra),
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=120,
    )


def test_the_judge_grades_the_file_it_receives(tmp_path: Path) -> None:
    done = judge(frame(REFERENCE.read_bytes()), tmp_path)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    feedback = json.loads(done.stdout)
    assert feedback["status"] == "passed" and feedback["score"] == 100
    assert feedback["submission_sha256"] and feedback["durations"]["idle"] >= 0
    received = list(tmp_path.glob("submission-*/minigpt.py"))
    assert [p.read_bytes() for p in received] == [REFERENCE.read_bytes()]
    for folder in tmp_path.glob("submission-*"):
        folder.chmod(0o755)


def test_a_late_file_is_graded_by_a_judge_already_started_up(tmp_path: Path) -> None:
    """The wait for the file shows as start-up or ``idle``, never in a grading phase."""
    proc = subprocess.Popen(
        judge_command(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    time.sleep(3.0)
    out, _ = proc.communicate(frame(REFERENCE.read_bytes()), timeout=120)
    spent = json.loads(out)["durations"]
    assert spent["idle"] > 0, "the judge was waiting, started up, when the file came"
    assert spent["judge_startup"] + spent["idle"] >= 2.9, "the wait is start-up or idle time"
    for folder in tmp_path.glob("submission-*"):
        folder.chmod(0o755)


def test_a_judge_given_no_file_says_so_and_grades_nothing(tmp_path: Path) -> None:
    done = judge(b"", tmp_path, "--wait", "5")
    assert done.returncode == NO_SUBMISSION
    assert done.stdout == b"", "no verdict for a file that never came"
    assert b"nothing was graded" in done.stderr
