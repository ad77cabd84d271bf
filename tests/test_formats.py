"""Output formats: the panel people read, the JSON and Gradescope documents machines read."""

from __future__ import annotations

import json

from grader.formats import render
from grader.formats.gradescope import gradescope_results
from grader.judge.verdict import Outcome, feedback_from_outcomes, infrastructure_feedback
from grader.models import Feedback
from grader.rubric import CHECKS, MAX_SCORE


def sample(fail: bool) -> Feedback:
    outcomes = [Outcome(check=c.id, title=c.id, passed=True) for c in CHECKS]
    if fail:
        outcomes.append(
            Outcome(
                check="positional",
                title="pos",
                passed=False,
                message="positions 0 and 1 give identical logits",
                line=12,
            )
        )
    feedback = feedback_from_outcomes(outcomes)
    feedback.submission = "minigpt.py"
    feedback.isolated = True
    return feedback


def test_panel_all_passing_says_no_issues() -> None:
    text = render(sample(False), "panel")
    assert "No issues detected" in text and "100/100" in text
    assert "hint" not in text


def test_panel_lists_failing_check_with_hint_and_line() -> None:
    text = render(sample(True), "panel")
    assert "1 issue detected" in text and "95/100" in text
    assert "Positions are embedded" in text
    assert "identical logits" in text and "[line 12]" in text
    assert "hint:" in text
    assert "Traceback" not in text


def test_panel_labels_process_sandbox_as_not_isolated() -> None:
    feedback = sample(False)
    feedback.isolated = False
    assert "not isolated" in render(feedback, "panel")


def test_json_round_trips_through_the_model() -> None:
    feedback = sample(True)
    again = Feedback.model_validate_json(render(feedback, "json"))
    assert again == feedback
    assert json.loads(render(feedback, "json"))["schema_version"] == "1.0"


def test_gradescope_document_follows_the_spec() -> None:
    results = gradescope_results(sample(True), visibility="after_due_date")
    assert results["score"] == MAX_SCORE - 5
    assert len(results["tests"]) == len(CHECKS)
    test = next(t for t in results["tests"] if "[positional]" in t["name"])
    assert test["status"] == "failed" and test["score"] == 0 and test["max_score"] == 5
    assert "identical logits" in test["output"] and "Hint:" in test["output"]
    assert {t["visibility"] for t in results["tests"]} == {"after_due_date"}
    assert sum(t["score"] for t in results["tests"]) == results["score"]


def test_gradescope_never_scores_an_infrastructure_failure() -> None:
    results = gradescope_results(infrastructure_feedback("Docker is down."))
    assert "score" not in results
    assert results["extra_data"]["gradable"] is False


def test_points_line() -> None:
    assert sample(True).points_line == "Points 95/100"
    assert "not gradable" in infrastructure_feedback("x").points_line
