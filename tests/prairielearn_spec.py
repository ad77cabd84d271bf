"""PrairieLearn's external-grading results.json as a strict model.

Written from PrairieLearn's documentation ("External Grading", section
"Grading results"): ``score`` in [0, 1] is the one required field of a
gradable result; ``gradable`` defaults to true, and when false no score is
needed and ``format_errors`` (a string or a list of strings) says why;
``message``, ``output``, ``images`` and ``tests[]`` are shown by the
``<pl-external-grader-results>`` element, each test with ``name``,
``description``, ``points``, ``max_points``, ``message``, ``output`` and
``images``. The grader host refuses a file over 1 MB. PrairieLearn keeps
extra keys, but ours are rejected here so a typo in our writer cannot pass.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_BYTES = 1024 * 1024  # the grader host's cap on results.json


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Image(_Strict):
    url: str
    label: str | None = None


class PrairieLearnTest(_Strict):
    name: str
    description: str | None = None
    points: float | None = None
    max_points: float | None = None
    message: str | None = None
    output: str | None = None
    images: list[Image | str] | None = None

    @model_validator(mode="after")
    def points_within_max(self) -> PrairieLearnTest:
        known = self.points is not None and self.max_points is not None
        if known and not 0 <= (self.points or 0) <= (self.max_points or 0):
            raise ValueError("a test's points must lie in [0, max_points]")
        return self


class PrairieLearnResults(_Strict):
    gradable: bool = True
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    message: str | None = None
    output: str | None = None
    format_errors: str | list[str] | None = None
    images: list[Image | str] | None = None
    tests: list[PrairieLearnTest] | None = None

    @model_validator(mode="after")
    def score_when_gradable(self) -> PrairieLearnResults:
        """A gradable result needs its score (a not-gradable one needs none)."""
        if self.gradable and self.score is None:
            raise ValueError("a gradable results.json needs 'score' in [0, 1]")
        return self


def validate_results_text(text: str) -> PrairieLearnResults:
    """Parse results.json as PrairieLearn's grader host would, size cap included."""
    if len(text.encode()) > MAX_BYTES:
        raise ValueError("results.json is larger than PrairieLearn's 1 MB limit")
    return PrairieLearnResults.model_validate_json(text)
