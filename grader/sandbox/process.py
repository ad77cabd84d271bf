"""Local backend: the same judge and worker as in Docker, without isolation.

Meant for students on their own machine and for fast tests. The student's
code runs as the current user with only the judge's per-call limits; the
feedback says ``isolated: false``.

What it still guarantees: the judge runs in an isolated interpreter
(``python -I``: no PYTHON* variables, no user site, neither its working
directory nor the submission's folder on ``sys.path``), from a fresh empty
private working directory, with HOME and TMPDIR in private directories of
their own; and its output is read with a cap (see :mod:`.base`), so a flood
on its stdout or stderr cannot grow this process's memory.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import Cancelled, SandboxFailed
from ..judge.config import JudgeConfig
from ..models import ErrorInfo, Feedback
from ..settings import GradeSettings
from ..submission import Submission
from .base import (
    ANSWER_LIMIT,
    STDERR_TAIL,
    Capture,
    answer_too_large,
    parse_judge_output,
    stderr_lines,
)

# ``python -I -m grader.judge`` would import whichever grader the interpreter's
# site-packages hold (Gradescope's setup installs a copy there). The judge must be
# the grader this host runs, so the isolated interpreter is pointed at this
# package's own folder explicitly, then runs the judge exactly as ``-m`` does.
JUDGE_BOOTSTRAP = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
    "runpy.run_module('grader.judge', run_name='__main__', alter_sys=True)"
)
READ_CHUNK = 1 << 16
POLL_SECONDS = 0.25
EXIT_POLL_SECONDS = 0.02  # both pipes closed: the judge is exiting
DRAIN_SECONDS = 2.0  # after the judge exits, how long a process it left may hold its pipes


@dataclass(frozen=True)
class PrivateDirs:
    """Fresh 0700 folders for one run, inside one temporary root."""

    submission: Path  # holds minigpt.py only
    cwd: Path  # the judge's working directory: empty
    home: Path
    tmp: Path

    @classmethod
    def create(cls, root: Path) -> PrivateDirs:
        made = {}
        for name in ("submission", "cwd", "home", "tmp"):
            folder = root / name
            folder.mkdir(mode=0o700)
            made[name] = folder
        return cls(**made)


class ProcessBackend:
    name = "process"

    def __init__(self, settings: GradeSettings) -> None:
        self.settings = settings

    def close(self) -> None:
        """Nothing to release: each run's processes are gone when it returns."""

    def judge_command(self, submission: Path, config: JudgeConfig) -> list[str]:
        """The command that starts the judge (tests replace it with misbehaving ones)."""
        return [
            sys.executable,
            "-I",
            "-B",
            "-c",
            JUDGE_BOOTSTRAP,
            str(paths.PROJECT_DIR),
            "--submission",
            str(submission),
        ]

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        limits = self.settings.limits
        config = JudgeConfig.from_limits(limits, policy=self.settings.policy, python=sys.executable)
        with tempfile.TemporaryDirectory(
            prefix="minigpt-grade-", ignore_cleanup_errors=True
        ) as root:
            dirs = PrivateDirs.create(Path(root))
            path = dirs.submission / "minigpt.py"
            path.write_bytes(submission.raw)
            path.chmod(0o400)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "HOME": str(dirs.home),
                "TMPDIR": str(dirs.tmp),
                "GRADER_JUDGE_CONFIG": config.to_json(),  # not on the command line
            }
            proc = subprocess.Popen(
                self.judge_command(path, config),
                cwd=dirs.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            try:
                outcome = collect_judge(proc, time.monotonic() + limits.wall_timeout, cancel)
            finally:
                stop_judge(proc)
        if outcome is None:
            return wall_timeout_feedback(limits.wall_timeout)
        stdout, stderr = outcome
        if stdout.overflowed:
            raise answer_too_large(stdout)
        answer = stdout.text()
        if proc.returncode != 0 or not answer.strip():
            raise SandboxFailed(
                f"The judge process failed (exit {proc.returncode}):\n{stderr_lines(stderr)}"
            )
        return parse_judge_output(answer)


def collect_judge(
    proc: subprocess.Popen[bytes], deadline: float, cancel: threading.Event | None
) -> tuple[Capture, Capture] | None:
    """The judge's stdout (head, capped) and stderr (tail) once it ends; None at the deadline.

    Reads both pipes as data arrives, so neither fills up and blocks the judge,
    and keeps no more than the caps. Returns early when the answer is already
    too large. The judge's pipes closing is not its end: only its exit is.
    Once it has exited, whatever it left running in its session is killed, and
    a pipe still held open (by a process that left the session) is given up
    after DRAIN_SECONDS.
    """
    assert proc.stdout is not None and proc.stderr is not None
    stdout = Capture(ANSWER_LIMIT, keep="head")
    stderr = Capture(STDERR_TAIL, keep="tail")
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, stdout)
        selector.register(proc.stderr, selectors.EVENT_READ, stderr)
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Grading was cancelled.")
            now = time.monotonic()
            if now > deadline:
                return None
            if exited_at is None and _has_exited(proc):
                exited_at = now
                _kill_group(proc)
            if exited_at is not None and (
                not selector.get_map() or now - exited_at > DRAIN_SECONDS
            ):
                break
            timeout = POLL_SECONDS if selector.get_map() else EXIT_POLL_SECONDS
            for key, _ in selector.select(timeout=timeout):
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.feed(chunk)
            if stdout.overflowed:
                break
    return stdout, stderr


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the judge has ended, without reaping it (its pid keeps naming its group).

    Where ``waitid`` is missing (macOS) the judge is reaped at once, and what it
    left in its session is not killed; its pipes are still given up in time.
    """
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid") or not hasattr(os, "WNOWAIT"):
        return proc.poll() is not None
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the judge's session group: the judge and everything it started.

    Only called before the judge is reaped, so the group id is still its own.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def stop_judge(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the run, reap the judge, close our ends of its pipes."""
    _kill_group(proc)
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def wall_timeout_feedback(seconds: float) -> Feedback:

    return Feedback.from_error(
        ErrorInfo(
            kind="timeout",
            message=f"Grading did not finish within {seconds:g} s. Every check has its own "
            "time limit, so this means the code is very slow overall.",
        )
    )
