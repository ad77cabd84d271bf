"""What a batch shows while it runs (a progress bar) and when it ends (a table).

Nothing here interprets rich markup: a student id or a check name is shown as
a ``Text`` after :func:`~.safe_text.terminal_text`, never parsed for ``[...]``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ..models import Feedback
from .safe_text import terminal_text


class BatchProgress:
    """done/total, failures so far and the time left, on stderr."""

    def __init__(self, total: int) -> None:
        self.failures = 0
        self.progress = Progress(
            TextColumn("grading", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failures]} with issues", markup=False),
            TimeElapsedColumn(),
            TextColumn("left", markup=False),
            TimeRemainingColumn(),
            console=Console(stderr=True, markup=False, emoji=False, highlight=False),
        )
        self.task = self.progress.add_task("grading", total=total, failures=0)

    def __enter__(self) -> BatchProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def update(self, student: str, feedback: Feedback | None) -> None:
        if feedback is not None and feedback.status != "passed":
            self.failures += 1
        self.progress.update(self.task, advance=1, failures=self.failures)


def summary_table(out: Path) -> str:
    """The class summary (pass rate per check, hardest first) as text."""
    summary = json.loads((out / "summary.json").read_text())
    table = Table(
        title=Text(
            f"{summary['gradable']} gradable submissions, mean score {summary['mean_score']}"
        )
    )
    table.add_column("check")
    table.add_column("passed", justify="right")
    table.add_column("pass rate", justify="right")
    for check in summary["checks"]:
        rate = check["pass_rate"]
        table.add_row(
            Text(terminal_text(str(check["id"]))),
            Text(str(check["passed"])),
            Text("-" if rate is None else f"{rate:.0%}"),
        )
    buffer = io.StringIO()
    Console(
        file=buffer, width=80, color_system=None, markup=False, emoji=False, highlight=False
    ).print(table)
    return buffer.getvalue()
