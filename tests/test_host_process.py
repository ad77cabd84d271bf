"""The host side of the process backend: how the judge is started, and reading it back.

A fake judge (the backend's ``judge_command`` replaced) floods its output,
leaves a process holding its pipes, or reports what it sees; the real judge
is given a submission that plants modules where an unisolated interpreter
would import them from.
"""

from __future__ import annotations

import json
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from support import REFERENCE, process_settings

from grader.api import grade
from grader.errors import SandboxFailed
from grader.judge.config import JudgeConfig
from grader.models import SCHEMA_VERSION, Feedback
from grader.sandbox.base import ANSWER_LIMIT, Capture
from grader.sandbox.process import ProcessBackend
from grader.settings import GradeSettings
from grader.submission import Submission

ANSWER = json.dumps(
    {
        "schema_version": SCHEMA_VERSION,
        "status": "passed",
        "summary": "fake judge",
        "score": 0,
        "max_score": 0,
    }
)


class FakeJudge(ProcessBackend):
    """The process backend with the judge replaced by ``python -c CODE``."""

    def __init__(self, code: str, settings: GradeSettings | None = None) -> None:
        super().__init__(settings or process_settings())
        self.code = textwrap.dedent(code)

    def judge_command(self, submission: Path, config: JudgeConfig) -> list[str]:
        return [sys.executable, "-c", self.code, str(submission)]


def submission() -> Submission:
    raw = REFERENCE.read_bytes()
    return Submission(name="minigpt.py", raw=raw, size=len(raw))


def run_measured(backend: ProcessBackend) -> tuple[Feedback | BaseException, int]:
    """The backend's result (or exception) and the peak of Python memory it allocated."""
    tracemalloc.start()
    try:
        result: Feedback | BaseException = backend.run(submission())
    except SandboxFailed as exc:
        result = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


def test_capture_keeps_the_head_or_the_tail() -> None:
    head = Capture(4, keep="head")
    tail = Capture(4, keep="tail")
    for chunk in (b"abc", b"defgh", b"ij"):
        head.feed(chunk)
        tail.feed(chunk)
    assert head.data == b"abcd" and head.overflowed and head.total == 10
    assert tail.data == b"ghij" and tail.total == 10
    small = Capture(4)
    small.feed(b"abcd")
    assert not small.overflowed and small.text() == "abcd"


def test_a_gibibyte_on_the_judges_stdout_is_refused_without_holding_it() -> None:
    flood = FakeJudge(
        """
        import os
        block = b"x" * (1 << 20)
        for _ in range(1024):
            os.write(1, block)
        """
    )
    result, peak = run_measured(flood)
    assert isinstance(result, SandboxFailed), result
    assert "answer was too large" in result.message
    assert peak < 3 * ANSWER_LIMIT, f"the host held {peak >> 20} MiB of the judge's output"


def test_a_flood_on_stderr_is_drained_and_the_answer_still_read() -> None:
    noisy = FakeJudge(
        f"""
        import os, sys
        block = b"noise " * 20000
        for _ in range(2000):
            os.write(2, block)
        sys.stdout.write({ANSWER!r} + "\\n")
        """
    )
    result, peak = run_measured(noisy)
    assert isinstance(result, Feedback) and result.summary == "fake judge"
    assert peak < 16 << 20, f"the host held {peak >> 20} MiB of the judge's stderr"


def test_a_failing_judge_is_quoted_from_the_end_of_its_stderr_only() -> None:
    failing = FakeJudge(
        """
        import os, sys
        os.write(2, b"first line\\n" + b"y" * (50 << 20) + b"\\nTraceback: the last words\\n")
        sys.exit(1)
        """
    )
    result, _ = run_measured(failing)
    assert isinstance(result, SandboxFailed)
    assert "exit 1" in result.message and "the last words" in result.message
    assert "first line" not in result.message and len(result.message) < 8000


def test_a_process_left_holding_the_pipes_does_not_hang_the_host() -> None:
    lingering = FakeJudge(
        f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()  # leaves the judge's session: the group kill misses it
            time.sleep(60)
            os._exit(0)
        sys.stdout.write({ANSWER!r} + "\\n")
        sys.stdout.flush()
        """
    )
    result, _ = run_measured(lingering)
    assert isinstance(result, Feedback) and result.summary == "fake judge"


def test_the_judge_starts_isolated_in_an_empty_private_folder() -> None:
    class Probe(ProcessBackend):
        """The real command line, with the judge's module replaced by a probe."""

        def judge_command(self, submission: Path, config: JudgeConfig) -> list[str]:
            command = super().judge_command(submission, config)
            command[command.index("-c") + 1] = textwrap.dedent(
                f"""
                import json, os, stat, sys
                mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
                submission = sys.argv[sys.argv.index("--submission") + 1]
                info = {{
                    "isolated": sys.flags.isolated,
                    "path": sys.path,
                    "cwd": os.getcwd(),
                    "cwd_entries": os.listdir("."),
                    "cwd_mode": mode("."),
                    "submission": submission,
                    "submission_dir": os.listdir(os.path.dirname(submission)),
                    "submission_mode": mode(submission),
                    "home": os.environ["HOME"],
                    "home_mode": mode(os.environ["HOME"]),
                    "tmp": os.environ["TMPDIR"],
                    "tmp_mode": mode(os.environ["TMPDIR"]),
                    "python_vars": [k for k in os.environ if k.startswith("PYTHON")],
                }}
                answer = json.loads({ANSWER!r})
                answer["summary"] = json.dumps(info)
                print(json.dumps(answer))
                """
            )
            return command

    command = Probe(process_settings()).judge_command(Path("/x/minigpt.py"), JudgeConfig())
    assert command[1] == "-I", "the judge's interpreter must be isolated"
    info = json.loads(Probe(process_settings()).run(submission()).summary)
    assert info["isolated"] == 1
    submission_dir = str(Path(info["submission"]).parent)
    for folder in ("", ".", info["cwd"], submission_dir, info["home"], info["tmp"]):
        assert folder not in info["path"], f"{folder!r} is on the judge's sys.path"
    assert info["cwd_entries"] == [] and info["cwd_mode"] == 0o700
    assert info["submission_dir"] == ["minigpt.py"] and info["submission_mode"] == 0o400
    assert info["home_mode"] == info["tmp_mode"] == 0o700
    assert len({info["cwd"], submission_dir, info["home"], info["tmp"]}) == 4
    assert info["python_vars"] == []


def test_modules_planted_next_to_the_submission_are_never_imported(tmp_path: Path) -> None:
    """The student's code drops modules the judge imports after it (pytest's plugins...).

    With the working directory or the submission's folder on the judge's
    sys.path, the planted pytest_timeout.py would run in the judge; it must not.
    """
    marker = tmp_path / "planted-module-ran"
    planted = f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit(0)\n"
    source = REFERENCE.read_text() + textwrap.dedent(
        f"""

        import os as _os
        from pathlib import Path as _Path

        def _plant():
            here = _Path(__file__).resolve().parent
            for folder in {{here, here.parent / "cwd", _Path(_os.getcwd()), _Path.cwd().parent}}:
                for name in ("pytest_timeout", "pytest_jsonreport", "grader", "pydantic"):
                    try:
                        (folder / (name + ".py")).write_text({planted!r})
                    except OSError:
                        pass

        _plant()
        """
    )
    path = tmp_path / "minigpt.py"
    path.write_text(source)
    feedback = grade(path, GradeSettings(sandbox="process", policy=False))
    assert not marker.exists(), "the judge imported a module the student's code planted"
    assert feedback.status == "passed" and feedback.score == 100


def test_private_folders_are_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    feedback = FakeJudge(f"print({ANSWER!r})").run(submission())
    assert feedback.summary == "fake judge"
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith("minigpt-grade-")]
    assert leftovers == [], "the run's private folders were left behind"
