"""Local backend: the same judge and worker as in Docker, without isolation.

Meant for students on their own machine and for fast tests. The student's
code runs as the current user with only the judge's per-call limits; the
feedback says ``isolated: false``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import paths
from ..errors import SandboxFailed
from ..models import ErrorInfo, Feedback
from ..settings import GradeSettings, JudgeConfig
from ..submission import Submission
from .base import parse_judge_output


class ProcessBackend:
    name = "process"

    def __init__(self, settings: GradeSettings) -> None:
        self.settings = settings

    def run(self, submission: Submission) -> Feedback:
        limits = self.settings.limits
        config = JudgeConfig.from_limits(
            limits, policy=self.settings.policy, python=sys.executable, sandbox="process"
        )
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
                sys.executable, "-m", "grader.judge",
                "--submission", str(path),
                "--config", config.model_dump_json(),
            ]
            proc = subprocess.Popen(
                command, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, text=True,
            )
            try:
                stdout, stderr = proc.communicate(timeout=limits.wall_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return wall_timeout_feedback(limits.wall_timeout)
            except BaseException:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
        if proc.returncode != 0 or not stdout.strip():
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            raise SandboxFailed(f"The judge process failed (exit {proc.returncode}):\n{tail}")
        return parse_judge_output(stdout)


def wall_timeout_feedback(seconds: float) -> Feedback:
    from ..judge.verdict import error_feedback

    return error_feedback(
        ErrorInfo(
            kind="timeout",
            message=f"Grading did not finish within {seconds:g} s. Every check has its own "
            "time limit, so this means the code is very slow overall.",
        )
    )
