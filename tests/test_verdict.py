"""From test outcomes to the verdict: points, issues, and grader bugs."""

from __future__ import annotations

from grader.judge.failures import describe
from grader.judge.verdict import Outcome, feedback_from_outcomes, summarise
from grader.rubric import CHECKS, CHECKS_BY_ID, MAX_SCORE


def all_pass() -> list[Outcome]:
    return [Outcome(check=c.id, title=f"{c.id} test", passed=True) for c in CHECKS]


def test_all_passing_gives_full_marks() -> None:
    feedback = feedback_from_outcomes(all_pass())
    assert feedback.status == "passed" and feedback.score == MAX_SCORE
    assert feedback.summary == "No issues detected"


def test_one_failing_test_costs_its_whole_check() -> None:
    outcomes = [
        *all_pass(),
        Outcome(check="causal_mask", title="future", passed=False, message="row 1 moved"),
    ]
    feedback = feedback_from_outcomes(outcomes)
    assert feedback.status == "failed"
    assert feedback.score == MAX_SCORE - CHECKS_BY_ID["causal_mask"].points
    check = next(c for c in feedback.checks if c.id == "causal_mask")
    assert not check.passed and check.score == 0
    assert check.issues[0].message == "row 1 moved"
    assert check.issues[0].hint == CHECKS_BY_ID["causal_mask"].hint
    assert feedback.summary == "1 issue detected"


def test_not_implemented_is_said_once_per_check() -> None:
    outcomes = all_pass() + [
        Outcome(
            check="shapes",
            title=f"t{i}",
            passed=False,
            kind="not_implemented",
            message=f"Embedding.__init__() is not implemented yet ({i})",
        )
        for i in range(3)
    ]
    check = next(c for c in feedback_from_outcomes(outcomes).checks if c.id == "shapes")
    assert len(check.issues) == 1


def test_duplicate_messages_collapse_and_are_capped() -> None:
    outcomes = [
        *all_pass(),
        Outcome(check="training", title="a", passed=False, message="same"),
        Outcome(check="training", title="b", passed=False, message="same"),
        *[
            Outcome(check="training", title=f"c{i}", passed=False, message=f"m{i}")
            for i in range(5)
        ],
    ]
    check = next(c for c in feedback_from_outcomes(outcomes).checks if c.id == "training")
    assert [i.message for i in check.issues] == ["same", "m0", "m1"]


def test_timeout_gets_a_timeout_hint() -> None:
    outcomes = [
        *all_pass(),
        Outcome(check="generate_output", title="t", passed=False, kind="timeout", message="slow"),
    ]
    check = next(c for c in feedback_from_outcomes(outcomes).checks if c.id == "generate_output")
    assert "loop" in (check.issues[0].hint or "")


def test_grader_bug_is_not_gradable() -> None:
    outcomes = [
        *all_pass(),
        Outcome(check="shapes", title="t", passed=False, internal="KeyError: 'x'"),
    ]
    feedback = feedback_from_outcomes(outcomes)
    assert feedback.status == "error" and not feedback.gradable and feedback.score is None
    assert feedback.error is not None and feedback.error.kind == "infrastructure"
    assert "KeyError" in feedback.error.message


def test_missing_check_coverage_is_not_gradable() -> None:
    outcomes = [o for o in all_pass() if o.check != "residual"]
    feedback = feedback_from_outcomes(outcomes)
    assert not feedback.gradable and "residual" in feedback.summary


def test_summary_wording() -> None:
    assert summarise(0) == "No issues detected"
    assert summarise(1) == "1 issue detected"
    assert summarise(3) == "3 issues detected"


def test_error_records_read_as_sentences() -> None:
    assert describe({"kind": "timeout", "stage": "generate()", "seconds": 10.0}) == (
        "did not finish within 10 s of CPU time in generate()"
    )
    text = describe(
        {
            "kind": "exception",
            "stage": "MiniGPT.forward()",
            "type": "IndexError",
            "message": "list index out of range",
            "frames": [[12, "forward", "h = self.block(x)"], [42, "attend", "x = y[t]"]],
            "first": [12, "forward", "h = self.block(x)"],
        }
    )
    assert text == (
        "MiniGPT.forward() raised IndexError: list index out of range "
        "(line 42: `x = y[t]`, reached from line 12 in forward)"
    )
    assert describe({"kind": "not_implemented", "stage": "generate()", "message": ""}) == (
        "generate() is not implemented yet"
    )


def test_an_error_shared_by_checks_is_told_once() -> None:
    crash = "LayerNorm.forward() raised ZeroDivisionError: float division by zero (line 9)"
    outcomes = [
        Outcome(check=c.id, title=f"{c.id} test", passed=c.id not in ("shapes", "layernorm"))
        for c in CHECKS
    ]
    outcomes[0] = Outcome("shapes", "shapes test", False, kind="exception", message=crash)
    outcomes[2] = Outcome("layernorm", "layernorm test", False, kind="exception", message=crash)
    checks = {c.id: c for c in feedback_from_outcomes(outcomes).checks}
    assert checks["shapes"].issues[0].message == crash
    blocked = checks["layernorm"].issues
    assert len(blocked) == 1 and "blocked by the error reported under" in blocked[0].message
    assert checks["shapes"].title in blocked[0].message
    assert not checks["layernorm"].passed and checks["layernorm"].score == 0


def test_the_summary_counts_failed_checks_not_bullets() -> None:
    """Two failing tests of one check are one issue; a second check is a second one."""
    outcomes = [
        *all_pass(),
        Outcome(check="attention", title="a", passed=False, message="weights do not sum to one"),
        Outcome(check="attention", title="b", passed=False, message="scores are symmetric"),
    ]
    feedback = feedback_from_outcomes(outcomes)
    attention = next(c for c in feedback.checks if c.id == "attention")
    assert len(attention.issues) == 2
    assert feedback.summary == "1 issue detected"
    outcomes.append(Outcome(check="training", title="c", passed=False, message="no drop"))
    assert feedback_from_outcomes(outcomes).summary == "2 issues detected"


def test_a_wrong_shape_is_told_once_whatever_the_sizes() -> None:
    """The same class's wrong shape met by several checks (at other sizes) is one error:
    told under `shapes` with the shapes hint, the others point there."""
    outcomes = [
        *[o for o in all_pass() if o.check not in ("shapes", "causal_mask")],
        Outcome(
            check="shapes",
            title="MiniGPT returns (T, V)",
            passed=False,
            kind="shape",
            message="MiniGPT.forward returned shape (1, 7); expected (6, 7)",
        ),
        Outcome(
            check="causal_mask",
            title="future tokens",
            passed=False,
            kind="shape",
            message="MiniGPT.forward returned shape (1, 7); expected (4, 7)",
        ),
    ]
    feedback = feedback_from_outcomes(outcomes)
    shapes = next(c for c in feedback.checks if c.id == "shapes")
    causal = next(c for c in feedback.checks if c.id == "causal_mask")
    assert shapes.issues[0].hint == CHECKS_BY_ID["shapes"].hint
    assert causal.issues[0].message.startswith("blocked by the error reported under")
    assert CHECKS_BY_ID["shapes"].title in causal.issues[0].message
    assert causal.issues[0].hint is None
