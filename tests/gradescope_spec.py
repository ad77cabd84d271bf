"""Gradescope's results.json specification as a strict model.

Written from Gradescope's autograder documentation ("Autograder
Specifications": top-level score, execution_time, output, visibility,
stdout_visibility, extra_data, tests[], leaderboard[]; each test with score,
max_score, status, name, number, output, tags, visibility). Unknown keys are
rejected so a typo in our writer cannot pass.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

Visibility = Literal["hidden", "after_due_date", "after_published", "visible"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradescopeTest(_Strict):
    score: float | None = None
    max_score: float | None = None
    status: Literal["passed", "failed"] | None = None
    name: str | None = None
    name_format: Literal["text", "html", "simple_format", "md", "ansi"] | None = None
    number: str | None = None
    output: str | None = None
    output_format: Literal["text", "html", "simple_format", "md", "ansi"] | None = None
    tags: list[str] | None = None
    visibility: Visibility | None = None
    extra_data: dict[str, Any] | None = None


class GradescopeResults(_Strict):
    score: float | None = None
    execution_time: float | None = None
    output: str | None = None
    output_format: Literal["text", "html", "simple_format", "md", "ansi"] | None = None
    test_output_format: Literal["text", "html", "simple_format", "md", "ansi"] | None = None
    test_name_format: Literal["text", "html", "simple_format", "md", "ansi"] | None = None
    visibility: Visibility | None = None
    stdout_visibility: Visibility | None = None
    extra_data: dict[str, Any] | None = None
    tests: list[GradescopeTest] | None = None
    leaderboard: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def score_or_tests(self) -> GradescopeResults:
        """Gradescope needs a top-level score or per-test scores to compute one."""
        if self.score is None and not self.tests:
            raise ValueError("results.json needs 'score' or 'tests'")
        return self
