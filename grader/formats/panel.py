"""The panel for people: what a student reads after ``grade minigpt.py``.

It shows the verdict, each failing check with what was observed and a hint,
and the score; never a traceback or anything of the grader's internals.

Every string from the Feedback may quote the student (the file name, an
exception message): it goes through :func:`~.safe_text.terminal_text` and into
a rich ``Text``, so no escape sequence reaches the terminal and no rich markup
(``[bold]``, ``[link=...]``) is interpreted.
"""

from __future__ import annotations

import io
import shutil

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from ..models import Feedback
from .safe_text import terminal_text


def _fmt(value: float) -> str:
    return f"{value:g}"


def _text(text: str, style: str = "", *, multiline: bool = True) -> Text:
    """Untrusted text as a rich Text: neutralised, never parsed as markup."""
    return Text(terminal_text(text, multiline=multiline), style=style)


def render_panel(feedback: Feedback, *, color: bool = False, width: int | None = None) -> str:
    """The panel as text; ``width`` defaults to the terminal's, at most 88 columns."""
    if width is None:
        width = max(40, min(88, shutil.get_terminal_size((88, 24)).columns))
    body: list[RenderableType] = []
    ok = feedback.status == "passed"
    style = "bold green" if ok else ("bold red" if feedback.status == "failed" else "bold yellow")
    if feedback.error is not None:
        body.append(_text(feedback.error.message, style))
    else:
        body.append(_text(feedback.summary, style))
    failing = [c for c in feedback.checks if not c.passed and c.issues]
    for check in failing:
        body.append(
            _text(f"\n✗ {check.title}  ({_fmt(check.score)}/{_fmt(check.max_score)})", "bold")
        )
        for index, issue in enumerate(check.issues):
            line = f" [line {issue.line}]" if issue.line else ""
            body.append(Padding(_text(f"• {issue.message}{line}"), (0, 0, 0, 2)))
            following = check.issues[index + 1] if index + 1 < len(check.issues) else None
            if issue.hint and (following is None or following.hint != issue.hint):
                body.append(Padding(_text(f"hint: {issue.hint}", "cyan"), (0, 0, 0, 4)))
    if feedback.checks and feedback.error is None:
        passed = sum(c.passed for c in feedback.checks)
        body.append(Text(f"\n{passed} of {len(feedback.checks)} checks passed", style="dim"))
    name = feedback.submission or "submission"
    if feedback.score is None:
        title = _text(f"{name}: not graded", multiline=False)
    else:
        title = _text(f"{name}: {_fmt(feedback.score)}/{_fmt(feedback.max_score)}", multiline=False)
    subtitle = None if feedback.isolated else Text("process sandbox: not isolated")
    panel = Panel(
        Group(*body),
        title=title,
        subtitle=subtitle,
        border_style="green" if ok else ("red" if feedback.status == "failed" else "yellow"),
        expand=True,
    )
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(panel)
    return buffer.getvalue()
