"""Who needs help: the students below a score, grouped by the concept they fail.

Sorting the class by score says who is behind, not what to teach them. Here
every student under the threshold is listed under each check they fail (a
check is a concept of the lesson), so an instructor sees "6 students fail
the causal mask" with their names, and can run one session for them. A file
that could not run at all fails every check for one reason (a syntax error,
forbidden code...): such students are grouped by that reason instead of
appearing under all 18 checks, and so are those whose file ran but passed no
check at all (the skeleton handed in, say): one row, not 18. Results that
are not gradable (our failure) have no score and are listed apart: they need
a regrade, not help.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..models import Feedback
from ..rubric import CHECKS

# Below this many points the report lists a student under "who needs help" (--help-threshold).
HELP_THRESHOLD = 60.0


@dataclass
class HelpGroup:
    """Students below the threshold who share one reason for losing points."""

    kind: Literal["error", "nothing", "check"]
    key: str  # the error kind, "nothing" (no check passed) or the check id
    title: str
    students: list[str] = field(default_factory=list)


@dataclass
class NeedsHelp:
    threshold: float
    students: list[str]  # every gradable student below the threshold, lowest score first
    # those who could not run first, then who passed nothing, then the checks, biggest first
    groups: list[HelpGroup]
    not_gradable: list[str]

    def to_json(self) -> dict[str, Any]:
        """What summary.json records: the threshold, the students, each group's ids."""
        return {
            "threshold": self.threshold,
            "students": self.students,
            "could_not_run": {g.key: g.students for g in self.groups if g.kind == "error"},
            "passed_nothing": [s for g in self.groups if g.kind == "nothing" for s in g.students],
            "by_check": {g.key: g.students for g in self.groups if g.kind == "check"},
            "not_gradable": self.not_gradable,
        }


def could_not_run(feedback: Feedback) -> str | None:
    """Why a gradable file did not run, in one line ("policy: ... line 1 ..."), or None."""
    if feedback.error is None or not feedback.gradable:
        return None
    return f"{feedback.error.kind}: {feedback.summary}"


def needs_help(results: Mapping[str, Feedback], threshold: float) -> NeedsHelp:
    """The students of ``results`` (id -> feedback) scoring below ``threshold`` points."""
    below = sorted(
        (
            (f.score, student)
            for student, f in results.items()
            if f.gradable and f.score is not None and f.score < threshold
        ),
    )
    students = [student for _, student in below]
    errors: dict[str, HelpGroup] = {}
    nothing = HelpGroup("nothing", "nothing", "Ran, but passed no check")
    checks = {c.id: HelpGroup("check", c.id, c.title) for c in CHECKS}
    for student in students:
        feedback = results[student]
        if feedback.error is not None:
            kind = feedback.error.kind
            group = errors.setdefault(kind, HelpGroup("error", kind, f"Could not run: {kind}"))
            group.students.append(student)
            continue
        if feedback.checks and not any(check.passed for check in feedback.checks):
            nothing.students.append(student)
            continue
        for check in feedback.checks:
            if not check.passed:
                group = checks.setdefault(check.id, HelpGroup("check", check.id, check.title))
                group.students.append(student)
    order = {c.id: i for i, c in enumerate(CHECKS)}
    by_check = sorted(
        (g for g in checks.values() if g.students),
        key=lambda g: (-len(g.students), order.get(g.key, len(order)), g.key),
    )
    by_error = sorted(errors.values(), key=lambda g: (-len(g.students), g.key))
    return NeedsHelp(
        threshold=threshold,
        students=students,
        groups=[*by_error, *([nothing] if nothing.students else []), *by_check],
        not_gradable=sorted(s for s, f in results.items() if not f.gradable),
    )
