"""Gradescope's results.json (the format its autograder containers must write).

One Gradescope test per rubric check, so the gradebook columns are the
concepts. Infrastructure failures carry no score at all: ``run_autograder``
then exits non-zero, which Gradescope shows as an autograder failure rather
than recording a zero.

Hiding the details but not the score. Gradescope's rule: while any test is
hidden from a student (``after_due_date`` before the due date,
``after_published`` before publishing), the student does not see their total
score either. So the tests stay ``visible`` (each check's name, points and
status) and only their text is held back: with ``details`` other than
``visible`` each test's output says when the details come, and the details
(the panel) go to the autograder's standard output, which results.json marks
with ``stdout_visibility: details``. Gradescope's rule concerns tests, not
standard output, so the student sees the score at once and the details then.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ..models import Feedback

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]
DETAILS_LATER: dict[str, str] = {
    "after_due_date": "The details of this check are shown after the due date.",
    "after_published": "The details of this check are shown when the grades are published.",
    "hidden": "The details of this check are not shown to students.",
}


def gradescope_results(
    feedback: Feedback, visibility: Visibility = "visible", details: Visibility = "visible"
) -> dict[str, Any]:
    """The results.json document for ``feedback``.

    ``visibility`` applies to the per-check tests; anything but ``visible``
    also hides the student's total score until then (Gradescope's rule).
    ``details`` holds back only the tests' text (see the module's docstring):
    the caller prints :func:`gradescope_details` on standard output.
    """
    tests = []
    for number, check in enumerate(feedback.checks, start=1):
        lines = []
        for issue in check.issues:
            lines.append(issue.message)
            if issue.hint:
                lines.append(f"Hint: {issue.hint}")
        if details != "visible" and lines:
            lines = [DETAILS_LATER[details]]
        tests.append(
            {
                "name": f"{check.title} [{check.id}]",
                "number": str(number),
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.passed else "failed",
                "output": "\n".join(lines),
                "visibility": visibility,
            }
        )
    output = [feedback.summary]
    if feedback.error is not None:
        output.append(feedback.error.message)
    if details != "visible" and any(check.issues for check in feedback.checks):
        output.append(DETAILS_LATER[details].replace("this check", "each check"))
    results: dict[str, Any] = {
        "execution_time": round(feedback.durations.total or feedback.durations.judge, 3),
        "output": "\n".join(dict.fromkeys(output)),
        "visibility": "visible",
        "stdout_visibility": "hidden" if details == "visible" else details,
        "tests": tests,
        "extra_data": {
            "status": feedback.status,
            "gradable": feedback.gradable,
            "grader_version": feedback.grader_version,
            "suite_hash": feedback.suite_hash,
        },
    }
    if feedback.score is not None:
        results["score"] = feedback.score
    return results


def to_gradescope_json(
    feedback: Feedback, visibility: Visibility = "visible", details: Visibility = "visible"
) -> str:
    return json.dumps(gradescope_results(feedback, visibility, details), indent=2) + "\n"


def gradescope_details(feedback: Feedback) -> str:
    """What Gradescope shows as the autograder's output once ``details`` allow: the panel."""
    from .panel import render_panel

    return render_panel(feedback, color=False, width=88)
