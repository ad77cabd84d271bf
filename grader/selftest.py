"""Proving the hidden suite: it must fail every known bug and pass every correct solution.

The bank lives in ``tests/solutions/``: ``mutations.py`` (one plausible bug
each, as a substitution on the reference or on one of the bank's correct
solutions, its ``base``, naming the check that must fail) and ``correct_*.py``
(solutions written independently of the reference). An
instructor who edits the suite runs ``grade selftest`` before shipping it.

The wheel ships the bank too (``paths.BANK_DIR``): on a new machine,
``grade selftest`` then proves that this installation (and, with
``--sandbox docker``, this image) gives every correct solution full marks and
catches every bug, without a clone. The bank holds nothing a student could
use that the wheel does not already hold (the reference is in it), and
students get the student kit, never the wheel.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import paths
from .api import grade_submission
from .errors import UsageError
from .settings import GradeSettings
from .submission import Submission

SOLUTIONS_DIR = paths.BANK_DIR


@dataclass(frozen=True)
class Case:
    """One file the suite is run on, and what must come out."""

    name: str
    source: str
    must_fail: str | None  # the check id that must fail; None: everything must pass
    description: str


@dataclass(frozen=True)
class CaseResult:
    case: Case
    ok: bool
    detail: str


def load_bank(directory: Path = SOLUTIONS_DIR) -> ModuleType:
    path = directory / "mutations.py"
    if not path.is_file():
        raise UsageError(f"No mutation bank at {path}: --bank needs a folder with mutations.py.")
    spec = importlib.util.spec_from_file_location("grader_selftest_mutations", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Cannot load {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def cases(directory: Path = SOLUTIONS_DIR) -> list[Case]:
    """The reference, every correct solution, and every mutation."""
    bank = load_bank(directory)
    reference = bank.reference_source()
    found = [Case("reference", reference, None, "the reference solution")]
    correct: dict[str, str] = {}
    for path in sorted(directory.glob("correct_*.py")):
        correct[path.name] = path.read_text(encoding="utf-8")
        found.append(
            Case(path.stem, correct[path.name], None, "an independently written correct solution")
        )
    for mutation in bank.MUTATIONS:
        # a bank written before bases existed: every mutation applies to the reference
        base = getattr(mutation, "base", None)
        if base is not None and base not in correct:
            raise UsageError(
                f"Mutation {mutation.id!r} applies to {base!r}, which is not a correct_*.py "
                f"file of {directory}."
            )
        found.append(
            Case(
                f"bug:{mutation.id}",
                bank.apply(mutation, reference if base is None else correct[base]),
                mutation.check,
                mutation.description if base is None else f"{mutation.description} (on {base})",
            )
        )
    return found


def run_case(case: Case, settings: GradeSettings) -> CaseResult:
    """Grade one case and say whether the suite judged it as it must."""
    raw = case.source.encode()
    feedback = grade_submission(Submission("minigpt.py", raw, len(raw)), settings)
    failing = sorted(c.id for c in feedback.checks if not c.passed)
    if not feedback.gradable:
        return CaseResult(case, False, f"not gradable: {feedback.summary}")
    if case.must_fail is None:
        if feedback.status == "passed":
            return CaseResult(case, True, "passed every check")
        first = next((i.message for c in feedback.checks for i in c.issues), feedback.summary)
        return CaseResult(case, False, f"correct solution failed {failing}: {first}")
    if case.must_fail in failing:
        return CaseResult(case, True, f"failed {case.must_fail} (all failing: {failing})")
    return CaseResult(case, False, f"bug not caught by {case.must_fail}; failing: {failing}")


def run_selftest(
    settings: GradeSettings,
    jobs: int = 2,
    on_result: Callable[[CaseResult], None] | None = None,
    directory: Path = SOLUTIONS_DIR,
) -> list[CaseResult]:
    """Run every case, ``jobs`` at a time."""
    results: list[CaseResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(lambda c: run_case(c, settings), cases(directory)):
            results.append(result)
            if on_result:
                on_result(result)
    return results
