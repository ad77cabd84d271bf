"""Result models: the feedback a submission gets, and the host/sandbox contract.

The judge inside the sandbox emits a :class:`Feedback` as JSON; the host
validates it against the same model, so a sandbox built from other sources
than the host is caught by ``schema_version`` instead of producing a
half-understood grade.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .__about__ import SCHEMA_VERSION as SCHEMA_VERSION  # re-exported: part of the contract
from .rubric import CHECKS, MAX_SCORE

Status = Literal["passed", "failed", "error"]
ErrorKind = Literal["syntax", "policy", "import", "timeout", "memory", "crash", "infrastructure"]
SandboxKind = Literal["docker", "process"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Issue(_Model):
    """One observed problem: what was seen, what was expected, and the concept."""

    test: str
    message: str
    hint: str | None = None
    line: int | None = Field(default=None, description="line of the student's file, if known")


class CheckResult(_Model):
    id: str
    title: str
    passed: bool
    score: float
    max_score: float
    issues: list[Issue] = Field(default_factory=list)


class ErrorInfo(_Model):
    """Why the submission could not be graded normally."""

    kind: ErrorKind
    message: str
    line: int | None = None


class Durations(_Model):
    """Where one grading's wall-clock seconds went, phase by phase.

    The phases let a benchmark say what to cut next; none of them decides a
    verdict. The reference solution is never run during a grading (every
    expected value is a formula), so no phase is spent on it.
    """

    total: float = Field(0.0, description="everything, from the file read to the verdict")
    sandbox_start: float = Field(
        0.0,
        description="container created and started, and the file handed to its judge "
        "(only the handing over when the container was started ahead of need; Docker only)",
    )
    idle: float = Field(
        0.0,
        description="a container started ahead of need: how long its judge, started up, "
        "waited for this file (its start-up and imports were paid before the grading began)",
    )
    judge: float = Field(
        0.0, description="the judge's run inside the sandbox, once it had the file"
    )
    judge_startup: float = Field(
        0.0,
        description="the judge's interpreter start, imports and pytest's collection of the "
        "hidden suite: everything before the file is read",
    )
    worker_imports: float = Field(
        0.0, description="starting the student's processes, each importing the submission"
    )
    probes: float = Field(0.0, description="waiting for the student's code to answer requests")
    probes_cpu: float = Field(0.0, description="CPU seconds the student's code used in requests")
    checks: float = Field(
        0.0, description="the judge's own work in the checks (pytest, comparisons, formulas)"
    )
    report: float = Field(0.0, description="the test report turned into the verdict")
    sandbox_teardown: float = Field(
        0.0, description="the answer read back and the container removed (Docker only)"
    )


class OutputInfo(_Model):
    """How much the student's code printed: counted, never kept, echoed or trusted."""

    bytes: int = 0


class Feedback(_Model):
    """The verdict on one submission: what ``grade --format json`` prints.

    Every field's description here is what ``grade schema`` publishes.
    """

    schema_version: str = Field(
        SCHEMA_VERSION, description="version of this contract; the host refuses another"
    )
    status: Status = Field(
        description="passed (every check), failed (issues found) or error (could not grade "
        "normally)"
    )
    gradable: bool = Field(
        True, description="false only for our own failures: record nothing, never a zero"
    )
    summary: str = Field(description="one sentence: 'No issues detected', '3 issues detected'...")
    score: float | None = Field(description="points earned; null when not gradable")
    max_score: float = Field(description="points available")
    checks: list[CheckResult] = Field(
        default_factory=list, description="one entry per rubric check, in rubric order"
    )
    error: ErrorInfo | None = Field(None, description="why the file could not be graded normally")
    submission: str = Field("", description="the graded file's name")
    submission_sha256: str = Field("", description="SHA-256 of the graded bytes")
    sandbox: SandboxKind | None = Field(None, description="where the judge ran")
    isolated: bool = Field(False, description="true when the student's code ran in Docker")
    durations: Durations = Field(default_factory=Durations, description="seconds per phase")
    grader_version: str = Field("", description="version of the grader that gave the verdict")
    suite_hash: str = Field("", description="digest of every file that decides a verdict")
    student_output: OutputInfo = Field(
        default_factory=OutputInfo, description="how much the student's code printed"
    )

    @classmethod
    def from_error(cls, error: ErrorInfo) -> Feedback:
        """The submission could not run at all: zero, with every check listed as failed."""
        checks = [
            CheckResult(id=c.id, title=c.title, passed=False, score=0.0, max_score=c.points)
            for c in CHECKS
        ]
        return cls(
            status="error",
            summary=error.message.split(". ")[0].rstrip(".") + ".",
            score=0.0,
            max_score=MAX_SCORE,
            checks=checks,
            error=error,
        )

    @classmethod
    def not_gradable(cls, message: str, checks: list[CheckResult] | None = None) -> Feedback:
        """Our fault: not gradable, no score, so no platform records a zero."""
        return cls(
            status="error",
            gradable=False,
            summary=message,
            score=None,
            max_score=MAX_SCORE,
            checks=checks or [],
            error=ErrorInfo(kind="infrastructure", message=message),
        )

    @property
    def points_line(self) -> str:
        """The one-line summary CI logs and GitHub Classroom read."""
        if self.score is None:
            return "Points: not gradable (infrastructure error, no score recorded)"
        return f"Points {_fmt(self.score)}/{_fmt(self.max_score)}"


def _fmt(value: float) -> str:
    return f"{value:g}"
