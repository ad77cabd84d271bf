"""PrairieLearn's entrypoint inside the sandbox image.

PrairieLearn starts the grader image as root with the job's files in
``/grade`` (the student's in ``/grade/student``), its own container limits
(memory, CPU, pids, network off, its timeout) and this command as the
entrypoint (``minigpt-prairielearn``, see the README). There is no Docker
inside, so this runs the judge in the image the way the Docker backend's
container does: the same command (``setpriv`` to uid 10001 with only
CAP_SETUID/SETGID/KILL, ``python3 -I -m grader.judge``), the same
JudgeConfig (worker as uid 10002, per-request CPU limits, the probe key),
the submission as a root-owned read-only file in ``/submission``. The host
side is the library's: :func:`grader.api.grade_submission` with this
backend, so the policy pre-check, the check that the judge graded these
bytes and the result fields are the same as ``grade FILE``.

Before the judge starts, ``/grade`` is made root-only, so neither uid can
read the job's files or write a results file; results.json is written by
this (root) process after every process of both uids is gone. It must be
the container's PID 1 (PrairieLearn starts no init): the judge holds
CAP_KILL and kills every process it may signal after each worker, which
spares only PID 1; as PID 1 it also reaps the orphans a student's code
leaves. It always exits 0 after writing results.json (PrairieLearn reads
it only then); any failure of ours is ``gradable: false``, never a zero.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .api import grade_submission, stamp
from .errors import GraderError, SandboxFailed, UsageError
from .formats.prairielearn import to_prairielearn_json
from .judge.config import JudgeConfig
from .models import ErrorInfo, Feedback
from .sandbox.base import parse_judge_output, stderr_lines
from .sandbox.docker_backend import (
    JUDGE_COMMAND,
    JUDGE_UID,
    STUDENT_UID,
    image_judge_config,
)
from .sandbox.process import collect_judge, stop_judge, wall_timeout_feedback
from .settings import GradeSettings, Limits
from .submission import Submission, load_submission
from .util import write_atomic

GRADE_DIR = Path("/grade")
SUBMISSION_DIR = Path("/submission")  # made by the image, root 0755
JUDGE_SCRATCH = Path("/judge")  # the judge's TMPDIR: its uid, 0700
JUDGE_ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_TIMEOUT = 280.0  # under PrairieLearn's `timeout` of 300 s recommended in the README
SWEEP_ROUNDS = 20
REAP_SECONDS = 0.2


class InImageBackend:
    """The judge as a local process of this container, with the Docker backend's uids."""

    name = "docker"

    def __init__(self, settings: GradeSettings) -> None:
        self.settings = settings
        self.judge_pid: int | None = None

    def judge_config(self) -> JudgeConfig:
        """What DockerBackend.container_options gives the judge, paths as in the image."""
        return image_judge_config(self.settings)

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        limits = self.settings.limits
        _place_submission(submission.raw)
        _fresh_judge_scratch()
        env = {
            "PATH": JUDGE_ENV_PATH,
            "LANG": "C.UTF-8",
            "HOME": "/nonexistent",
            "TMPDIR": str(JUDGE_SCRATCH),
            "GRADER_JUDGE_CONFIG": self.judge_config().to_json(),
        }
        proc = subprocess.Popen(
            JUDGE_COMMAND,
            cwd="/",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.judge_pid = proc.pid
        try:
            outcome = collect_judge(proc, time.monotonic() + limits.wall_timeout, cancel)
        finally:
            stop_judge(proc)
            sweep_uids((JUDGE_UID, STUDENT_UID))
        if outcome is None:
            return wall_timeout_feedback(limits.wall_timeout)
        stdout, stderr = outcome
        answer = stdout.text()
        if stdout.overflowed or proc.returncode != 0 or not answer.strip():
            raise SandboxFailed(
                f"The judge failed (exit {proc.returncode}, {stdout.total} bytes of answer): "
                f"{stderr_lines(stderr)}"
            )
        return parse_judge_output(answer)

    def close(self) -> None:
        """Nothing to release: the judge is gone when ``run`` returns."""


def _place_submission(raw: bytes) -> None:
    """minigpt.py as the Docker backend leaves it: root-owned, read-only, in a 0755 folder."""
    SUBMISSION_DIR.mkdir(mode=0o755, exist_ok=True)
    os.chmod(SUBMISSION_DIR, 0o755)
    target = SUBMISSION_DIR / "minigpt.py"
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)


def _fresh_judge_scratch() -> None:
    shutil.rmtree(JUDGE_SCRATCH, ignore_errors=True)
    JUDGE_SCRATCH.mkdir(mode=0o700)
    os.chown(JUDGE_SCRATCH, JUDGE_UID, JUDGE_UID)
    # The workers' own folders are made in /tmp by the judge (as in the Docker
    # backend's container): its uid's, 0755, so the student's uid writes nothing there.
    os.chown("/tmp", JUDGE_UID, JUDGE_UID)
    os.chmod("/tmp", 0o755)


def sweep_uids(uids: tuple[int, ...]) -> None:
    """Kill every process whose real uid is one of ``uids``, until none is left.

    The judge already kills what it may signal; this root pass also catches a
    process that outlived the judge, so nothing of the student's is running
    when results.json is written.
    """
    wanted = {str(uid) for uid in uids}
    for _ in range(SWEEP_ROUNDS):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
            if uid_line.split()[1:2] and uid_line.split()[1] in wanted:
                found = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.05)


def find_submission(student_dir: Path) -> Path | None:
    """``minigpt.py``, or the only ``.py`` file the student submitted."""
    preferred = student_dir / "minigpt.py"
    if preferred.exists() or preferred.is_symlink():
        return preferred
    found = sorted(student_dir.glob("*.py")) if student_dir.is_dir() else []
    return found[0] if len(found) == 1 else None


def lock_grade_dir(grade_dir: Path) -> None:
    """Make the job's folder root-only: the judge's and the student's uids cannot enter it."""
    try:
        os.chown(grade_dir, 0, 0)
        os.chmod(grade_dir, 0o700)
    except OSError as exc:
        print(f"minigpt-prairielearn: cannot lock {grade_dir}: {exc}", file=sys.stderr)


def grade_job(grade_dir: Path, settings: GradeSettings, backend: InImageBackend) -> Feedback:
    """The Feedback for the job in ``grade_dir``; our failures become not gradable."""
    path = find_submission(grade_dir / "student")
    if path is None:
        return Feedback.from_error(
            ErrorInfo(kind="policy", message="Submit exactly one Python file, minigpt.py.")
        )
    try:
        submission = load_submission(path, settings.limits.max_source_bytes)
    except UsageError as exc:  # a symlink, a folder: the student's upload, not a grader fault
        return Feedback.from_error(ErrorInfo(kind="policy", message=exc.message))
    try:
        return grade_submission(submission, settings, backend=backend)
    except GraderError as exc:
        feedback = Feedback.not_gradable(" ".join(filter(None, [exc.message, exc.fix])))
    except Exception as exc:  # our bug: never a student's zero
        feedback = Feedback.not_gradable(f"The grader failed: {type(exc).__name__}: {exc}")
    return stamp(feedback, submission, settings)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="minigpt-prairielearn", description=__doc__)
    parser.add_argument("--grade-dir", type=Path, default=GRADE_DIR)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--test-timeout", type=float, default=defaults.call_timeout)
    parser.add_argument("--import-timeout", type=float, default=defaults.import_timeout)
    parser.add_argument("--worker-memory", type=int, default=defaults.worker_memory_mb)
    parser.add_argument("--max-source-bytes", type=int, default=defaults.max_source_bytes)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    limits = Limits(
        wall_timeout=args.timeout,
        call_timeout=args.test_timeout,
        import_timeout=args.import_timeout,
        worker_memory_mb=args.worker_memory,
        max_source_bytes=args.max_source_bytes,
    )
    settings = GradeSettings(sandbox="docker", limits=limits)
    lock_grade_dir(args.grade_dir)
    if os.getpid() != 1:
        # The judge kills every process it may signal after each worker, and it
        # holds CAP_KILL: only PID 1 is spared. PrairieLearn starts no init.
        feedback = Feedback.not_gradable(
            "The PrairieLearn entrypoint must be the container's first process "
            "(do not start the grader image with an init such as docker run --init)."
        )
    else:
        backend = InImageBackend(settings)
        stop = threading.Event()
        reaper = threading.Thread(
            target=reap_orphans, args=(stop, lambda: backend.judge_pid), daemon=True
        )
        reaper.start()
        try:
            feedback = grade_job(args.grade_dir, settings, backend)
        finally:
            stop.set()
            reaper.join()
    write_atomic(args.grade_dir / "results" / "results.json", to_prairielearn_json(feedback))
    print(feedback.points_line, file=sys.stderr)
    return 0


def reap_orphans(stop: threading.Event, spare: Callable[[], int | None]) -> None:
    """Reap the zombies of orphans re-parented to us (PID 1), never the judge.

    Unreaped, what a student's code leaves behind would hold the container's
    pids limit. The judge (``spare()``) is left to its Popen, which waits for it.
    """
    while not stop.wait(REAP_SECONDS):
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None or info.si_pid == spare():
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)


if __name__ == "__main__":
    sys.exit(main())
