"""Local backend: the same judge and worker as in Docker, without isolation.

Meant for students on their own machine and for fast tests. The student's
code runs as the current user with only the judge's per-call limits; the
feedback says ``isolated: false``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import paths
from ..errors import Cancelled, SandboxFailed
from ..models import ErrorInfo, Feedback
from ..settings import GradeSettings, JudgeConfig
from ..submission import Submission
from .base import parse_judge_output


class ProcessBackend:
    name = "process"

    def __init__(self, settings: GradeSettings) -> None:
        self.settings = settings

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        limits = self.settings.limits
        config = JudgeConfig.from_limits(limits, policy=self.settings.policy, python=sys.executable)
        with tempfile.TemporaryDirectory(prefix="minigpt-grade-") as tmp:
            path = Path(tmp) / "minigpt.py"
            path.write_bytes(submission.raw)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "PYTHONPATH": str(paths.PROJECT_DIR),
                "PYTHONDONTWRITEBYTECODE": "1",
                "HOME": tmp,
            }
            command = [
                sys.executable,
                "-m",
                "grader.judge",
                "--submission",
                str(path),
                "--config",
                config.model_dump_json(),
            ]
            proc = subprocess.Popen(
                command,
                cwd=tmp,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                text=True,
            )
            deadline = time.monotonic() + limits.wall_timeout
            try:
                while True:
                    try:
                        stdout, stderr = proc.communicate(timeout=0.25)
                        break
                    except subprocess.TimeoutExpired:
                        if cancel is not None and cancel.is_set():
                            raise Cancelled("Grading was cancelled.") from None
                        if time.monotonic() > deadline:
                            _kill_group(proc)
                            return wall_timeout_feedback(limits.wall_timeout)
            except BaseException:
                _kill_group(proc)
                raise
        if proc.returncode != 0 or not stdout.strip():
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            raise SandboxFailed(f"The judge process failed (exit {proc.returncode}):\n{tail}")
        return parse_judge_output(stdout)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill the judge and everything it started (the worker is in its group's session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def wall_timeout_feedback(seconds: float) -> Feedback:
    from ..judge.verdict import error_feedback

    return error_feedback(
        ErrorInfo(
            kind="timeout",
            message=f"Grading did not finish within {seconds:g} s. Every check has its own "
            "time limit, so this means the code is very slow overall.",
        )
    )
