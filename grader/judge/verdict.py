"""From test outcomes to the verdict (pure logic).

A check earns its points only when every one of its tests passes: partial
credit inside a check would, for instance, pay half the causal-mask points to
a model with no mask at all.

The judge builds the verdict as the plain data of a :class:`~grader.models.Feedback`
(:func:`verdict`), not as the pydantic model: importing pydantic would cost every
grading about 50 ms of CPU. The host validates the judge's answer against the
model (unknown fields refused), so a key misspelt here fails every grading in
the tests; :func:`feedback_from_outcomes` is the same verdict as the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..__about__ import SCHEMA_VERSION
from ..rubric import CHECKS, CHECKS_BY_ID, MAX_SCORE
from .failures import hint_for

if TYPE_CHECKING:
    from ..models import Feedback

MAX_ISSUES_PER_CHECK = 3


@dataclass(frozen=True)
class Outcome:
    """One hidden test's result, as the JSON report and our metadata tell it."""

    check: str | None
    title: str
    passed: bool
    kind: str = "check"
    message: str = ""
    hint: str | None = None
    line: int | None = None
    internal: str | None = None


def summarise(failed_checks: int) -> str:
    """The one-line summary: how many checks failed (an issue is a failed check, however
    many bullets it shows)."""
    if failed_checks == 0:
        return "No issues detected"
    return f"{failed_checks} issue{'s' if failed_checks != 1 else ''} detected"


def check_results(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One result per rubric check; an error shared by several checks is told once.

    A failure of the student's code (an exception, a timeout, a wrong shape)
    that several checks run into is reported in full under the first check
    that met it; the others say which check to look at, so the student sees
    one cause once instead of the same traceback in every check.
    """
    results = []
    first_seen: dict[tuple[str, str], str] = {}
    for check in CHECKS:
        mine = [o for o in outcomes if o.check == check.id]
        failed = [o for o in mine if not o.passed]
        passed = bool(mine) and not failed
        issues = _issues(failed, check.hint)
        shared = [_cause(o) for o in failed if o.kind != "check"]
        if failed and shared and all(c in first_seen for c in shared):
            issues = [
                {
                    "test": failed[0].title,
                    "message": f"blocked by the error reported under “{first_seen[shared[0]]}”",
                }
            ]
        shown = {issue["message"] for issue in issues}
        for outcome in failed:
            if outcome.kind != "check" and outcome.message in shown:
                first_seen.setdefault(_cause(outcome), check.title)
        results.append(
            {
                "id": check.id,
                "title": check.title,
                "passed": passed,
                "score": check.points if passed else 0.0,
                "max_score": check.points,
                "issues": issues,
            }
        )
    return results


def _cause(outcome: Outcome) -> tuple[str, str]:
    """What makes two failures one: the same error, or a wrong shape of the same
    class's output (whatever sizes the asking test used)."""
    if outcome.kind == "shape":
        return (outcome.kind, outcome.message.split(" ", 1)[0])
    return (outcome.kind, outcome.message)


def _issues(failed: list[Outcome], check_hint: str) -> list[dict[str, Any]]:
    """One issue per distinct problem; an unimplemented part is said once."""
    not_implemented = [o for o in failed if o.kind in ("not_implemented", "missing")]
    chosen = not_implemented[:1] if not_implemented else failed
    issues: list[dict[str, Any]] = []
    seen: set[str] = set()
    for outcome in chosen:
        if outcome.message in seen:
            continue
        seen.add(outcome.message)
        concept = CHECKS_BY_ID["shapes"].hint if outcome.kind == "shape" else check_hint
        issues.append(
            {
                "test": outcome.title,
                "message": outcome.message,
                "hint": outcome.hint or hint_for(outcome.kind, concept),
                "line": outcome.line,
            }
        )
    return issues[:MAX_ISSUES_PER_CHECK]


def verdict(outcomes: list[Outcome]) -> dict[str, Any]:
    """The verdict as a Feedback's data; a grader bug in any test makes the run
    ungradable, not a zero."""
    internal = [o for o in outcomes if o.internal]
    unassigned = [o for o in outcomes if o.check is None]
    covered = {o.check for o in outcomes}
    uncovered = [c.id for c in CHECKS if c.id not in covered]
    checks = check_results(outcomes)
    if internal or unassigned or uncovered:
        if internal:
            why = f"internal error in hidden test '{internal[0].title}': {internal[0].internal}"
        elif unassigned:
            why = f"hidden test '{unassigned[0].title}' belongs to no check"
        else:
            why = f"no hidden test ran for check(s) {', '.join(uncovered)}"
        from ..models import CheckResult, Feedback  # a grader bug: rare enough to pay for it

        found = [CheckResult.model_validate(c) for c in checks]
        return Feedback.not_gradable(f"The grader failed ({why}).", checks=found).model_dump()
    failed_count = sum(1 for c in checks if not c["passed"])
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "passed" if all(c["passed"] for c in checks) else "failed",
        "gradable": True,
        "summary": summarise(failed_count),
        "score": sum(c["score"] for c in checks),
        "max_score": MAX_SCORE,
        "checks": checks,
    }


def feedback_from_outcomes(outcomes: list[Outcome]) -> Feedback:
    """:func:`verdict` as the result model."""
    from ..models import Feedback

    return Feedback.model_validate(verdict(outcomes))
