"""Result models: the feedback a submission gets, and the host/sandbox contract.

The judge inside the sandbox emits a :class:`Feedback` as JSON; the host
validates it against the same model, so a sandbox built from other sources
than the host is caught by ``schema_version`` instead of producing a
half-understood grade.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

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
    """Wall-clock seconds; ``total`` includes sandbox start-up."""

    total: float = 0.0
    judge: float = 0.0


class OutputInfo(_Model):
    """How much the student's code printed: counted, never kept, echoed or trusted."""

    bytes: int = 0


class Feedback(_Model):
    schema_version: str = SCHEMA_VERSION
    status: Status
    gradable: bool = True
    summary: str
    score: float | None
    max_score: float
    checks: list[CheckResult] = Field(default_factory=list)
    error: ErrorInfo | None = None
    submission: str = ""
    submission_sha256: str = ""
    sandbox: SandboxKind | None = None
    isolated: bool = False
    durations: Durations = Field(default_factory=Durations)
    grader_version: str = ""
    suite_hash: str = ""
    student_output: OutputInfo = Field(default_factory=OutputInfo)

    @property
    def points_line(self) -> str:
        """The one-line summary CI logs and GitHub Classroom read."""
        if self.score is None:
            return "Points: not gradable (infrastructure error, no score recorded)"
        return f"Points {_fmt(self.score)}/{_fmt(self.max_score)}"


def _fmt(value: float) -> str:
    return f"{value:g}"
