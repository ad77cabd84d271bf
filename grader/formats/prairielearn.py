"""PrairieLearn's external-grading ``results.json``.

PrairieLearn reads ``gradable``, ``score`` (0..1), ``message``, ``output``,
``format_errors`` and ``tests[]`` (``name``, ``description``, ``points``,
``max_points``, ``message``, ``output``); its ``<pl-external-grader-results>``
element shows them. One test per rubric check, so students see the concepts.

``gradable: false`` means "no points awarded or lost, and no attempt used".
It is what our infrastructure failures get (never a student's zero), and,
as PrairieLearn documents it, what a file that cannot be read as a program
gets too: a syntax error or code the static policy refuses is reported in
``format_errors`` and costs the student nothing. A file that runs but fails
(an import error, a timeout, wrong results) is graded as usual.

This module imports nothing beyond the models: it also runs inside the image.
"""

from __future__ import annotations

import json
from typing import Any

from ..models import CheckResult, Feedback

MAX_BYTES = 1 << 20  # PrairieLearn refuses a larger results.json
OUTPUT_BUDGET = 200_000  # characters of `output` per test before shortening
FORMAT_ERROR_KINDS = ("syntax", "policy")
INFRASTRUCTURE_NOTE = (
    "This submission was not graded because the grader failed; it does not count as an "
    "attempt. Please submit again; if it keeps happening, tell the course staff."
)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_message(check: CheckResult) -> str:
    if check.passed:
        return "Passed."
    if not check.issues:
        return "Not earned: the file did not run (see the message above)."
    more = len(check.issues) - 1
    return check.issues[0].message + (f" (and {more} more below)" if more else "")


def issue_lines(check: CheckResult) -> list[str]:
    """Each issue of ``check`` with its line, then its hint; a line repeated is said once."""
    lines = []
    for issue in check.issues:
        where = f" (line {issue.line})" if issue.line else ""
        lines.append(f"{issue.message}{where}")
        if issue.hint:
            lines.append(f"Hint: {issue.hint}")
    return list(dict.fromkeys(lines))


def _check_lines(feedback: Feedback) -> list[dict[str, Any]]:
    tests = []
    for check in feedback.checks:
        output = "\n".join(issue_lines(check))
        if len(output) > OUTPUT_BUDGET:
            output = output[:OUTPUT_BUDGET] + "\n[... shortened]"
        tests.append(
            {
                "name": check.title,
                "description": f"Rubric check '{check.id}': every one of its tests must pass "
                f"to earn its {_fmt(check.max_score)} points.",
                "points": check.score,
                "max_points": check.max_score,
                "message": _check_message(check),
                "output": output,
            }
        )
    return tests


def _footer(feedback: Feedback) -> str:
    return f"Graded by minigpt-grader {feedback.grader_version} (suite {feedback.suite_hash})."


def prairielearn_results(feedback: Feedback) -> dict[str, Any]:
    """The results.json document for ``feedback``."""
    if not feedback.gradable:
        reason = feedback.error.message if feedback.error else feedback.summary
        return {
            "gradable": False,
            "message": INFRASTRUCTURE_NOTE,
            "format_errors": [INFRASTRUCTURE_NOTE],
            "output": f"{reason}\n{_footer(feedback)}",
            "tests": [],
        }
    if feedback.error is not None and feedback.error.kind in FORMAT_ERROR_KINDS:
        where = f" (line {feedback.error.line})" if feedback.error.line else ""
        problem = f"{feedback.error.message}{where}"
        return {
            "gradable": False,
            "message": "Your file could not be graded: fix it and submit again "
            "(this attempt is not counted).",
            "format_errors": [problem],
            "output": f"{problem}\n{_footer(feedback)}",
            "tests": [],
        }
    score = (feedback.score or 0.0) / feedback.max_score if feedback.max_score else 0.0
    output = [feedback.summary]
    if feedback.error is not None:
        output.append(feedback.error.message)
    output.append(f"Points {_fmt(feedback.score or 0.0)}/{_fmt(feedback.max_score)}")
    output.append(_footer(feedback))
    return {
        "gradable": True,
        "score": round(min(max(score, 0.0), 1.0), 6),
        "message": feedback.error.message if feedback.error is not None else feedback.summary,
        "output": "\n".join(dict.fromkeys(output)),
        "format_errors": [],
        "tests": _check_lines(feedback),
    }


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [... shortened]"


def to_prairielearn_json(feedback: Feedback) -> str:
    """results.json as text, ASCII only, always under PrairieLearn's 1 MB limit.

    Real messages are capped far below it; should they ever add up to more,
    every test's message and output are cut to a budget that halves until
    the document fits (a refused file would show the student nothing).
    """
    document = prairielearn_results(feedback)
    budget = OUTPUT_BUDGET
    while True:
        text = json.dumps(document, indent=2, ensure_ascii=True) + "\n"
        if len(text) <= MAX_BYTES or budget < 16:
            return text
        budget //= 2
        for test in document["tests"]:
            test["message"] = _shorten(test["message"], budget)
            test["output"] = _shorten(test["output"], budget)
        document["output"] = _shorten(document["output"], budget)
        document["message"] = _shorten(document["message"], budget)
