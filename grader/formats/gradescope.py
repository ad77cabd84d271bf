"""Gradescope's results.json (the format its autograder containers must write).

One Gradescope test per rubric check, so the gradebook columns are the
concepts. Infrastructure failures carry no score at all: ``run_autograder``
then exits non-zero, which Gradescope shows as an autograder failure rather
than recording a zero.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from ..models import Feedback

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


def gradescope_results(feedback: Feedback, visibility: Visibility = "visible") -> dict[str, Any]:
    """The results.json document for ``feedback``.

    ``visibility`` applies to the per-check tests (the hidden suite's
    details); the top-level score and summary stay visible.
    """
    tests = []
    for number, check in enumerate(feedback.checks, start=1):
        lines = []
        for issue in check.issues:
            lines.append(issue.message)
            if issue.hint:
                lines.append(f"Hint: {issue.hint}")
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
    results: dict[str, Any] = {
        "execution_time": round(feedback.durations.total or feedback.durations.judge, 3),
        "output": "\n".join(dict.fromkeys(output)),
        "visibility": "visible",
        "stdout_visibility": "hidden",
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


def to_gradescope_json(feedback: Feedback, visibility: Visibility = "visible") -> str:
    return json.dumps(gradescope_results(feedback, visibility), indent=2) + "\n"
