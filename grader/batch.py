"""Grading a class: many submissions in parallel, resumable, nothing lost.

Each submission's feedback is written atomically to ``OUT/results/<id>.json``
the moment it is done. A re-run skips every result that matches the same
file bytes and the same suite; infrastructure failures are retried a bounded
number of times and are recorded as not gradable (never as a zero), so the
next run tries them again. The gradebook and the class summary are rebuilt
from the result files at the end of every run, with a page per student
(``students/<id>.html``) and, when asked for, the class's JUnit XML and the
similar pairs' side-by-side pages.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from . import paths
from .api import Retries, grade_or_not_gradable, grade_submission
from .errors import Cancelled, GraderError, UsageError
from .formats.safe_text import csv_cell
from .models import ErrorInfo, Feedback
from .report.triage import HELP_THRESHOLD
from .rubric import CHECKS
from .sandbox import Backend, make_backend
from .settings import GradeSettings, Limits
from .submission import load_submission
from .util import display_path, write_atomic

if TYPE_CHECKING:
    from .report.similarity import SimilaritySettings

PREFERRED_NAME = "minigpt.py"


@dataclass(frozen=True)
class Entry:
    """One student's submission: an id for the gradebook and where the file is.

    ``origin`` is what the student was found as (their file, or their folder):
    the id is derived from its name, and from its whole path when two names
    would give the same id.
    """

    student: str
    path: Path | None
    problem: str | None = None
    origin: Path | None = None


@dataclass(frozen=True)
class ClassFiles:
    """What is written beside the results: how the report triages, JUnit, similarity."""

    help_threshold: float = HELP_THRESHOLD  # points; below it a student "needs help"
    junit: bool = False  # also junit.xml: one testsuite per student
    max_source_bytes: int = Limits.model_fields["max_source_bytes"].default
    similarity: SimilaritySettings | None = None  # compare every pair of files


@dataclass
class BatchReport:
    total: int = 0
    skipped: int = 0
    graded: int = 0
    not_gradable: int = 0
    results: dict[str, Feedback] = field(default_factory=dict)


ProgressHook = Callable[[str, Feedback | None], None]

ID_MAX_BYTES = 100  # leaves room in a 255-byte file name for the suffix, .json and temp names
ID_SEPARATOR = "~"  # never in a name-derived id, so a suffixed id cannot equal another one


def discover(inputs: Iterable[Path]) -> list[Entry]:
    """Files, folders of files, or one folder per student (holding minigpt.py).

    Names need not be UTF-8 or even printable; every entry gets a distinct id
    (see :func:`assign_ids`) and a path listed twice is graded once.
    """
    entries: list[Entry] = []
    for root in inputs:
        if root.is_symlink():
            entries.append(_problem(root, f"{display_path(root)} is a symbolic link"))
        elif root.is_file():
            entries.append(Entry(root.stem, root, origin=root))
        elif root.is_dir():
            for child in sorted(root.iterdir()):
                if child.is_symlink():
                    entries.append(
                        _problem(child, f"{display_path(child.name)} is a symbolic link")
                    )
                elif child.is_file() and child.suffix == ".py":
                    entries.append(Entry(child.stem, child, origin=child))
                elif child.is_dir() and not child.name.startswith("."):
                    entries.append(_student_folder(child))
        else:
            raise UsageError(f"No such file or folder: {display_path(root)}")
    return assign_ids(_once_each(entries))


def _problem(origin: Path, problem: str) -> Entry:
    return Entry(origin.stem, None, problem, origin=origin)


def _student_folder(folder: Path) -> Entry:
    preferred = folder / PREFERRED_NAME
    if preferred.exists() or preferred.is_symlink():
        return Entry(folder.name, preferred, origin=folder)
    candidates = sorted(p for p in folder.glob("*.py") if p.is_file())
    if len(candidates) == 1:
        return Entry(folder.name, candidates[0], origin=folder)
    what = "no .py file" if not candidates else f"{len(candidates)} .py files and no minigpt.py"
    return Entry(folder.name, None, f"the folder holds {what}", origin=folder)


def _absolute(path: Path) -> str:
    return os.path.abspath(path)


def _once_each(entries: list[Entry]) -> list[Entry]:
    """The same file or folder named twice (``batch a.py a.py``, a folder and its file) once."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        keys = {_absolute(p) for p in (entry.origin, entry.path) if p is not None}
        if keys & seen:
            continue
        seen |= keys
        unique.append(entry)
    return unique


def student_id(name: str) -> str:
    """The id a name gives: letters, digits, ``.``, ``_``, ``-``; safe as a file name.

    Other characters (spaces, punctuation, control characters, bytes that are
    not UTF-8) become ``_``; the result is never empty, never starts with
    ``.`` or ``-`` and is at most ID_MAX_BYTES of UTF-8.
    """
    text = unicodedata.normalize("NFKC", display_path(name))
    text = re.sub(r"[^\w.-]+", "_", text).strip("._-")
    text = text.encode("utf-8")[:ID_MAX_BYTES].decode("utf-8", "ignore")
    return text.rstrip("._-") or "submission"


def _collision_key(student: str) -> str:
    """Ids that would name the same file on a case- or normalisation-insensitive disk."""
    return unicodedata.normalize("NFKC", student).casefold()


def assign_ids(entries: list[Entry]) -> list[Entry]:
    """Give each entry a distinct id, the same one on every run over the same inputs.

    An id is the entry's name-derived :func:`student_id` when no other entry's
    name gives the same one (compared as a case-insensitive disk would);
    otherwise every entry that shares it gets ``~`` and a digest of its
    absolute path appended (``minigpt~3f2a9c01b2``). Name-derived ids never hold
    ``~``, so the two kinds cannot meet; a digest clash is resolved by a longer
    digest.
    """
    bases = [student_id(e.student) for e in entries]
    counts = Counter(_collision_key(b) for b in bases)
    ids: list[str | None] = [b if counts[_collision_key(b)] == 1 else None for b in bases]
    for width in (10, 16, 64):
        pending = [i for i, value in enumerate(ids) if value is None]
        if not pending:
            break
        candidates = {}
        for i in pending:
            origin = entries[i].origin or entries[i].path
            key = os.fsencode(_absolute(origin)) if origin is not None else str(i).encode()
            digest = hashlib.sha256(key).hexdigest()[:width]
            candidates[i] = f"{bases[i]}{ID_SEPARATOR}{digest}"
        taken = Counter(_collision_key(c) for c in candidates.values())
        for i, candidate in candidates.items():
            if taken[_collision_key(candidate)] == 1 or width == 64:
                ids[i] = candidate
    return [
        Entry(student or "submission", e.path, e.problem, e.origin)
        for student, e in zip(ids, entries, strict=True)
    ]


class BatchGrader:
    """Grades entries into ``out``; safe to interrupt and to run again."""

    def __init__(
        self,
        settings: GradeSettings,
        out: Path,
        jobs: int,
        retries: int = 2,
        backend: Backend | None = None,
        class_files: ClassFiles | None = None,
    ) -> None:
        self.settings = settings
        self.out = out
        self.class_files = class_files or ClassFiles(
            max_source_bytes=settings.limits.max_source_bytes
        )
        self.results_dir = out / "results"
        self.jobs = max(1, jobs)
        self.retries = max(0, retries)
        self.cancel = threading.Event()
        self._backend = backend  # one for the whole batch (one Docker client), made in run()

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
            submission = load_submission(entry.path, self.settings.limits.max_source_bytes)
        except GraderError:
            return False
        return (
            existing.submission_sha256 == submission.sha256
            and existing.submission == submission.name
            and existing.suite_hash == paths.suite_hash()
        )

    def grade_one(self, entry: Entry) -> Feedback:
        """Never raises for a student's problem; retries ours, then records it as such."""
        if entry.path is None or entry.problem:
            return Feedback.from_error(
                ErrorInfo(kind="policy", message=f"Not graded: {entry.problem}.")
            )
        try:
            submission = load_submission(entry.path, self.settings.limits.max_source_bytes)
        except UsageError as exc:
            return Feedback.from_error(
                ErrorInfo(kind="policy", message=f"Not graded: {exc.message}")
            )
        assert self._backend is not None, "grade_one runs inside run()"
        backend = self._backend
        return grade_or_not_gradable(
            submission,
            self.settings,
            Retries(self.retries, backoff=2.0, max_wait=5.0),
            self.cancel,
            attempt=lambda: grade_submission(submission, self.settings, self.cancel, backend),
            fatal_raises=True,  # every later submission would fail the same way: stop
        )

    def run(self, entries: list[Entry], progress: ProgressHook | None = None) -> BatchReport:
        """Grade what is not done yet. A missing engine or image raises before anything runs."""
        own = self._backend is None
        if own:
            self._backend = make_backend(self.settings)
        try:
            return self._run(entries, progress)
        finally:
            if own:
                assert self._backend is not None
                self._backend.close()
                self._backend = None

    def _run(self, entries: list[Entry], progress: ProgressHook | None) -> BatchReport:
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
            write_class_files(self.out, entries, self.class_files)
            raise
        pool.shutdown(wait=True)
        write_class_files(self.out, entries, self.class_files)
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
    """student, status, gradable, score, max_score, points per check, then the student's page.

    Text cells go through :func:`~grader.formats.safe_text.csv_cell`: a
    spreadsheet never runs a formula or shows a control character from them.
    ``page`` is the path of the student's page relative to the gradebook.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["student", "status", "gradable", "score", "max_score", *(c.id for c in CHECKS), "page"]
    )
    for student in sorted(results):
        feedback = results[student]
        points = {c.id: c.score for c in feedback.checks}
        writer.writerow(
            [
                csv_cell(student),
                csv_cell(feedback.status),
                str(feedback.gradable).lower(),
                "" if feedback.score is None else f"{feedback.score:g}",
                f"{feedback.max_score:g}",
                *("" if not feedback.gradable else f"{points.get(c.id, 0.0):g}" for c in CHECKS),
                csv_cell(f"students/{student}.html"),
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


def write_class_files(
    out: Path, entries: list[Entry], options: ClassFiles | None = None
) -> dict[str, Feedback]:
    """Rebuild the class files from the result files on disk.

    gradebook.csv, summary.json, report.html and ``students/<id>.html`` every
    time; junit.xml with ``options.junit``; with ``options.similarity`` every
    pair of submitted files is compared, the similar pairs go into the summary
    and the report, and each listed pair gets ``pairs/<a>--<b>.html`` (the
    pages of pairs no longer listed are removed).
    """
    from .report import pages
    from .report.similarity import compare_sources, read_sources

    options = options or ClassFiles()
    results = load_results(out, entries)
    summary = class_summary(results)
    files = [(e.student, e.path) for e in entries if e.path is not None and not e.problem]
    sources, skipped = read_sources(files, options.max_source_bytes)
    matches = None
    if options.similarity is not None:
        matches = compare_sources(sources, skipped, options.similarity)
        summary["similarity"] = matches.model_dump(mode="json")
    summary["needs_help"] = pages.needs_help_json(results, options.help_threshold)
    write_atomic(out / "gradebook.csv", gradebook_csv(results))
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    if options.junit:
        from .formats.junit import to_junit_xml

        write_atomic(out / "junit.xml", to_junit_xml(dict(sorted(results.items()))))
    pages.write_student_pages(out, results, sources)
    pages.write_pair_pages(out, matches, sources)
    report = pages.render_report(
        results,
        summary,
        matches,
        suite_hash=paths.suite_hash(),
        help_threshold=options.help_threshold,
    )
    write_atomic(out / "report.html", report)
    return results
