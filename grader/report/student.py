"""``students/<id>.html``: one student's feedback as a page (what the panel says, readable).

Each failing check comes first with everything the panel shows: what was
observed against what was expected, the line of the student's file with its
text, and the hint; then the checks that passed. A file that could not run
says why once, instead of listing 18 failures. The page holds this student's
feedback only (nothing about the class or similar pairs), so an instructor
can hand it to the student.

Like the report it is self-contained and inert: every value is escaped after
the terminal's cleaning (the file name, the messages and the quoted source
are the student's text), and its Content Security Policy loads nothing and
runs no script at all.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

from ..__about__ import __version__
from ..models import CheckResult, Feedback
from .templating import CSP, environment, points

SOURCE_LINE_MAX_CHARS = 400
_LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends Python's own line numbers count


def source_lines(source: str | None, feedback: Feedback) -> list[str] | None:
    """The graded file's lines, when ``source`` is the very text that was graded."""
    if source is None or not feedback.submission_sha256:
        return None
    digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()
    if digest != feedback.submission_sha256:
        return None  # the file changed since it was graded: its lines would mislead
    return _LINE_END.split(source)


def _quoted(lines: list[str] | None, number: int | None, message: str = "") -> str | None:
    """Line ``number`` of the file, unindented; None when unknown or the message quotes it."""
    if lines is None or number is None or not 1 <= number <= len(lines):
        return None
    text = lines[number - 1].strip()
    if not text or text in message:
        return None
    if len(text) > SOURCE_LINE_MAX_CHARS:
        text = text[:SOURCE_LINE_MAX_CHARS] + " ..."
    return text


def _check(check: CheckResult, lines: list[str] | None) -> dict[str, Any]:
    issues = []
    for index, issue in enumerate(check.issues):
        following = check.issues[index + 1] if index + 1 < len(check.issues) else None
        issues.append(
            {
                "message": issue.message,
                "line": issue.line,
                "source": _quoted(lines, issue.line, issue.message),
                # a hint shared by consecutive issues is said once, after the last
                "hint": issue.hint
                if issue.hint and (following is None or following.hint != issue.hint)
                else None,
            }
        )
    return {
        "id": check.id,
        "title": check.title,
        "score": points(check.score),
        "max_score": points(check.max_score),
        "issues": issues,
    }


def render_student_page(student: str, feedback: Feedback, source: str | None = None) -> str:
    """The page of ``student`` (their id in the class); ``source``: the file they handed in."""
    lines = source_lines(source, feedback)
    error = feedback.error
    ran = feedback.gradable and error is None
    failing = [c for c in feedback.checks if not c.passed]
    context = {
        "policy": CSP,
        "student": student,
        "json": quote(f"../results/{student}.json"),
        "feedback": feedback,
        "score": points(feedback.score),
        "max_score": points(feedback.max_score),
        "status_class": "passed"
        if feedback.status == "passed"
        else ("failed" if error is None else "error"),
        "error": None
        if error is None
        else {
            "kind": error.kind,
            "message": error.message,
            "line": error.line,
            "source": _quoted(lines, error.line, error.message),
        },
        "ran": ran,
        "failing": [_check(c, lines) for c in failing] if ran else [],
        "passed": [_check(c, lines) for c in feedback.checks if c.passed],
        "not_run": [c.title for c in failing] if not ran else [],
        "version": feedback.grader_version or __version__,
    }
    return str(environment().get_template("student.html.j2").render(**context))
