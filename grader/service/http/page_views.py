"""The student pages as HTML: the submission form, a job's progress and feedback, errors.

Every value that came from a student (the file name, the messages and hints the
judge quotes, a label) is hostile text: Jinja escapes it (autoescape), and the
terminal cleaning of :mod:`grader.formats.safe_text` first makes invisible and
direction-changing characters visible. The page's Content Security Policy is
the second line: nothing may load (``default-src 'none'``), the one style sheet
and the few lines of script are allowed by their hashes, forms post only here,
and a page opened from a link may not be framed (one opened by an LTI launch
may, by the platform: LMSs show tools in an iframe). The page needs no script:
the form posts, and a job's page refreshes itself until the verdict is in.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse

from ...formats.safe_text import terminal_text
from ...models import Feedback
from ..db import JobRecord

REFRESH_SECONDS = 2
_FILES = resources.files("grader.service.http") / "templates"
CSS = (_FILES / "page.css").read_text()
SCRIPT = (_FILES / "page.js").read_text()


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("grader.service.http", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def policy(frame_ancestors: str = "'none'", *, script: bool = False) -> str:
    """The Content Security Policy of a page (with the form's script, or without)."""
    parts = [
        "default-src 'none'",
        f"style-src {_digest(CSS)}",
        f"script-src {_digest(SCRIPT)}" if script else "script-src 'none'",
        "form-action 'self'",
        "base-uri 'none'",
        f"frame-ancestors {frame_ancestors}",
    ]
    return "; ".join(parts)


def framing(issuer: str | None) -> str:
    """Who may frame the page: nobody, or (an LTI launch's page) https origins and the
    platform's own origin (an LMS shows tools in an iframe of its domain, which is
    not always the issuer's: Canvas's is the school's)."""
    if issuer is None:
        return "'none'"
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else ""
    return " ".join(x for x in ("'self'", "https:", origin) if x)


def shown(value: object) -> str:
    """Student text with nothing invisible or reordering left (Jinja escapes it after)."""
    return terminal_text(str(value), multiline=True)


def html(template: str, status: int = 200, *, frame: str = "'none'", script: bool = False,
         **values: Any) -> HTMLResponse:  # fmt: skip
    page = _ENV.get_template(template).render(
        css=Markup(CSS), script=Markup(SCRIPT) if script else None,
        refresh=values.pop("refresh", None), **values,
    )  # fmt: skip
    headers = {
        "Content-Security-Policy": policy(frame, script=script),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the page's URL is the student's credential
        "Cache-Control": "no-store",
    }
    if frame == "'none'":
        headers["X-Frame-Options"] = "DENY"
    return HTMLResponse(page, status_code=status, headers=headers)


def error_page(status: int, message: str, fix: str | None = None,
               title: str = "This page cannot be shown") -> HTMLResponse:  # fmt: skip
    return html("error.html.j2", status, title=title, message=message, fix=fix)


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Row:
    url: str
    at: str
    file: str
    state: str
    score: str


def points(feedback: Feedback) -> str:
    if feedback.score is None:
        return "not graded"
    return f"{feedback.score:g}/{feedback.max_score:g}"


def job_row(job: JobRecord, url: str) -> Row:
    score = "-"
    if job.feedback_json:
        score = points(Feedback.model_validate_json(job.feedback_json))
    state = {"done": "graded", "superseded": "replaced"}.get(job.status, job.status)
    if job.outcome == "not-gradable":
        state = "could not be graded"
    return Row(url, when(job.created_at), shown(job.filename), state, score)


def feedback_values(feedback: Feedback) -> dict[str, Any]:
    """The panel's content, every student-controlled string cleaned (escaped later)."""
    checks = []
    for check in feedback.checks:
        issues = [
            {"message": shown(i.message), "hint": shown(i.hint) if i.hint else None,
             "line": i.line}
            for i in check.issues
        ]  # fmt: skip
        checks.append({"title": shown(check.title), "passed": check.passed, "issues": issues,
                       "points": f"{check.score:g}/{check.max_score:g}"})  # fmt: skip
    return {
        "feedback": feedback,
        "score_line": f"Score {points(feedback)}",
        "summary": shown(feedback.summary),
        "error": shown(feedback.error.message) if feedback.error else None,
        "error_line": feedback.error.line if feedback.error else None,
        "checks": checks,
    }
