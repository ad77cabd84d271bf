"""Grading a class: many submissions in parallel, resumable, nothing lost.

Each submission's feedback is written atomically to ``OUT/results/<id>.json``
the moment it is done. A re-run skips every result that matches the same
file bytes and the same suite; infrastructure failures are retried a bounded
number of times and are recorded as not gradable (never as a zero), so the
next run tries them again. The gradebook and the class summary are rebuilt
from the result files at the end of every run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from . import paths
from .api import grade_submission
from .errors import Cancelled, GraderError, InfrastructureError, UsageError
from .judge.verdict import error_feedback, infrastructure_feedback
from .models import ErrorInfo, Feedback
from .rubric import CHECKS
from .settings import GradeSettings
from .submission import load_submission
from .util import write_atomic

PREFERRED_NAME = "minigpt.py"


@dataclass(frozen=True)
class Entry:
    """One student's submission: an id for the gradebook and where the file is."""

    student: str
    path: Path | None
    problem: str | None = None


@dataclass
class BatchReport:
    total: int = 0
    skipped: int = 0
    graded: int = 0
    not_gradable: int = 0
    results: dict[str, Feedback] = field(default_factory=dict)


ProgressHook = Callable[[str, Feedback | None], None]


def discover(inputs: Iterable[Path]) -> list[Entry]:
    """Files, folders of files, or one folder per student (holding minigpt.py)."""
    entries: list[Entry] = []
    for root in inputs:
        if root.is_symlink():
            entries.append(Entry(root.stem, None, f"{root} is a symbolic link"))
        elif root.is_file():
            entries.append(Entry(root.stem, root))
        elif root.is_dir():
            for child in sorted(root.iterdir()):
                if child.is_symlink():
                    entries.append(Entry(child.stem, None, f"{child.name} is a symbolic link"))
                elif child.is_file() and child.suffix == ".py":
                    entries.append(Entry(child.stem, child))
                elif child.is_dir() and not child.name.startswith("."):
                    entries.append(_student_folder(child))
        else:
            raise UsageError(f"No such file or folder: {root}")
    return _unique(entries)


def _student_folder(folder: Path) -> Entry:
    preferred = folder / PREFERRED_NAME
    if preferred.exists() or preferred.is_symlink():
        return Entry(folder.name, preferred)
    candidates = sorted(p for p in folder.glob("*.py") if p.is_file())
    if len(candidates) == 1:
        return Entry(folder.name, candidates[0])
    what = "no .py file" if not candidates else f"{len(candidates)} .py files and no minigpt.py"
    return Entry(folder.name, None, f"the folder holds {what}")


def _unique(entries: list[Entry]) -> list[Entry]:
    """Make student ids safe as file names and distinct."""
    seen: dict[str, int] = {}
    unique = []
    for entry in entries:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", entry.student).strip("._") or "submission"
        count = seen.get(base, 0) + 1
        seen[base] = count
        name = base if count == 1 else f"{base}-{count}"
        unique.append(Entry(name, entry.path, entry.problem))
    return unique


class BatchGrader:
    """Grades entries into ``out``; safe to interrupt and to run again."""

    def __init__(self, settings: GradeSettings, out: Path, jobs: int, retries: int = 2) -> None:
        self.settings = settings
        self.out = out
        self.results_dir = out / "results"
        self.jobs = max(1, jobs)
        self.retries = max(0, retries)
        self.cancel = threading.Event()

    def result_path(self, student: str) -> Path:
        return self.results_dir / f"{student}.json"

    def is_done(self, entry: Entry) -> bool:
        """A finished, gradable result for the same bytes and the same suite."""
        existing = _read_feedback(self.result_path(entry.student))
        if existing is None or not existing.gradable:
            return False
        if entry.path is None:
            return True
        try:
            raw = load_submission(entry.path, self.settings.limits.max_source_bytes).raw
        except GraderError:
            return False
        return (
            existing.submission_sha256 == hashlib.sha256(raw).hexdigest()
            and existing.suite_hash == paths.suite_hash()
        )

    def grade_one(self, entry: Entry) -> Feedback:
        """Never raises for a student's problem; retries ours, then records it as such."""
        if entry.path is None or entry.problem:
            return error_feedback(ErrorInfo(kind="policy", message=f"Not graded: {entry.problem}."))
        try:
            submission = load_submission(entry.path, self.settings.limits.max_source_bytes)
        except UsageError as exc:
            return error_feedback(ErrorInfo(kind="policy", message=f"Not graded: {exc.message}"))
        last: InfrastructureError | None = None
        for attempt in range(self.retries + 1):
            if self.cancel.is_set():
                raise Cancelled("Batch cancelled.")
            try:
                return grade_submission(submission, self.settings, cancel=self.cancel)
            except InfrastructureError as exc:
                last = exc
                time.sleep(min(2.0 * (attempt + 1), 5.0))
        assert last is not None
        feedback = infrastructure_feedback(
            f"Not gradable after {self.retries + 1} attempts: {last.message}"
        )
        feedback.submission = submission.name
        feedback.submission_sha256 = submission.sha256
        return feedback

    def run(self, entries: list[Entry], progress: ProgressHook | None = None) -> BatchReport:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        report = BatchReport(total=len(entries))
        todo = []
        for entry in entries:
            if self.is_done(entry):
                report.skipped += 1
                if progress:
                    progress(entry.student, None)
            else:
                todo.append(entry)
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grade")
        futures: dict[Future[Feedback], Entry] = {}
        pending = iter(todo)
        try:
            for entry in pending:
                futures[pool.submit(self.grade_one, entry)] = entry
                if len(futures) >= self.jobs:
                    break
            while futures:
                done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = futures.pop(future)
                    try:
                        feedback = future.result()
                    except Cancelled:
                        continue
                    self._record(entry, feedback, report)
                    if progress:
                        progress(entry.student, feedback)
                    following = next(pending, None)
                    if following is not None and not self.cancel.is_set():
                        futures[pool.submit(self.grade_one, following)] = following
        except BaseException:
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            write_class_files(self.out, entries)
            raise
        pool.shutdown(wait=True)
        write_class_files(self.out, entries)
        return report

    def _record(self, entry: Entry, feedback: Feedback, report: BatchReport) -> None:
        write_atomic(self.result_path(entry.student), feedback.model_dump_json(indent=2) + "\n")
        report.results[entry.student] = feedback
        report.graded += 1
        if not feedback.gradable:
            report.not_gradable += 1


def _read_feedback(path: Path) -> Feedback | None:
    try:
        return Feedback.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def load_results(out: Path, entries: list[Entry]) -> dict[str, Feedback]:
    results = {}
    for entry in entries:
        feedback = _read_feedback(out / "results" / f"{entry.student}.json")
        if feedback is not None:
            results[entry.student] = feedback
    return results


def gradebook_csv(results: dict[str, Feedback]) -> str:
    """student, status, gradable, score, max_score, then points per check."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student", "status", "gradable", "score", "max_score", *(c.id for c in CHECKS)]
    )
    for student in sorted(results):
        feedback = results[student]
        points = {c.id: c.score for c in feedback.checks}
        writer.writerow(
            [
                student,
                feedback.status,
                str(feedback.gradable).lower(),
                "" if feedback.score is None else f"{feedback.score:g}",
                f"{feedback.max_score:g}",
                *("" if not feedback.gradable else f"{points.get(c.id, 0.0):g}" for c in CHECKS),
            ]
        )
    return buffer.getvalue()


def class_summary(results: dict[str, Feedback]) -> dict[str, object]:
    """Pass rate per check over gradable submissions: what the class struggles with."""
    gradable = [f for f in results.values() if f.gradable]
    per_check = []
    for check in CHECKS:
        passed = sum(1 for f in gradable for c in f.checks if c.id == check.id and c.passed)
        per_check.append(
            {
                "id": check.id,
                "title": check.title,
                "passed": passed,
                "pass_rate": round(passed / len(gradable), 4) if gradable else None,
            }
        )
    scores = [f.score for f in gradable if f.score is not None]
    return {
        "submissions": len(results),
        "gradable": len(gradable),
        "not_gradable": len(results) - len(gradable),
        "passed": sum(1 for f in gradable if f.status == "passed"),
        "errors": {
            kind: sum(1 for f in gradable if f.error and f.error.kind == kind)
            for kind in sorted({f.error.kind for f in gradable if f.error})
        },
        "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
        "checks": sorted(per_check, key=lambda c: (c["pass_rate"] is None, c["pass_rate"])),
    }


def write_class_files(out: Path, entries: list[Entry]) -> dict[str, Feedback]:
    """Rebuild gradebook.csv and summary.json from the result files on disk."""
    results = load_results(out, entries)
    write_atomic(out / "gradebook.csv", gradebook_csv(results))
    write_atomic(out / "summary.json", json.dumps(class_summary(results), indent=2) + "\n")
    return results
