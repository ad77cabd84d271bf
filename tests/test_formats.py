"""Output formats: the panel people read, the JSON and Gradescope documents machines read."""

from __future__ import annotations

import json
import os
import re
import unicodedata

import pytest
from gradescope_spec import GradescopeResults

from grader.formats import render
from grader.formats.gradescope import gradescope_details, gradescope_results
from grader.formats.safe_text import BIDI_CONTROLS, ESCAPED_CATEGORIES, csv_cell, terminal_text
from grader.judge.verdict import Outcome, feedback_from_outcomes
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


def test_gradescope_details_can_wait_while_the_score_shows() -> None:
    results = gradescope_results(sample(True), details="after_due_date")
    GradescopeResults.model_validate(results)
    assert results["score"] == MAX_SCORE - 5
    assert {t["visibility"] for t in results["tests"]} == {"visible"}, "the total score shows"
    test = next(t for t in results["tests"] if "[positional]" in t["name"])
    assert (test["score"], test["max_score"], test["status"]) == (0, 5, "failed")
    assert test["output"] == "The details of this check are shown after the due date."
    assert "identical logits" not in json.dumps(results)
    assert results["stdout_visibility"] == "after_due_date"
    assert "after the due date" in results["output"]
    details = gradescope_details(sample(True))
    assert "identical logits" in details and "hint:" in details and "95/100" in details
    passing = gradescope_results(sample(False), details="after_published")
    assert {t["output"] for t in passing["tests"]} == {""} and "published" not in passing["output"]


def test_gradescope_never_scores_an_infrastructure_failure() -> None:
    results = gradescope_results(Feedback.not_gradable("Docker is down."))
    assert "score" not in results
    assert results["extra_data"]["gradable"] is False


def test_points_line() -> None:
    assert sample(True).points_line == "Points 95/100"
    assert "not gradable" in Feedback.not_gradable("x").points_line


# --- untrusted text -----------------------------------------------------------------

HOSTILE = (
    "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J"
    "\x07\x00\x7f\x9b31m\r\u202eyp.exe\u2066\u200b\ufeff[bold red]loud[/bold red]"
    "[link=http://evil.example]x[/link] :smile:"
)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),  # C0: an ANSI colour becomes inert text
        ("\x1b]8;;http://e\x1b\\", "\\x1b]8;;http://e\\x1b\\"),  # OSC 8 hyperlink
        ("bell\x07nul\x00bs\x08", "bell\\x07nul\\x00bs\\x08"),
        ("del\x7f", "del\\x7f"),
        ("\x9b31m csi \x85 nel", "\\x9b31m csi \\x85 nel"),  # C1 controls
        ("over\rwrite", "over\\x0dwrite"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zero\\u200bwidth\\u200c\\u200d\\u2060\\ufeff"),
        ("soft\xadhyphen", "soft\\xadhyphen"),
        ("José ✓ 李雷 😀 [bold]", "José ✓ 李雷 😀 [bold]"),  # ordinary text is untouched
    ],
)
def test_terminal_text_escapes_what_a_terminal_would_obey(raw: str, shown: str) -> None:
    assert terminal_text(raw) == shown


@pytest.mark.parametrize("char", [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))])
def test_terminal_text_strips_bidi_controls(char: str) -> None:
    assert terminal_text(f"evil{char}yp.py") == "evilyp.py"
    assert terminal_text(f"evil{char}yp.py", multiline=True) == "evilyp.py"


def test_terminal_text_shows_bytes_that_were_not_utf8() -> None:
    name = os.fsdecode(b"caf\xe9-\xff\xfe.py")  # how Linux hands Python such a name
    assert terminal_text(name) == "caf\\xe9-\\xff\\xfe.py"
    assert terminal_text("\ud800") == "\ufffd"  # any other lone surrogate
    terminal_text(name).encode("utf-8")  # always encodable


def test_terminal_text_keeps_lines_only_when_asked() -> None:
    assert terminal_text("one\ntwo\tthree") == "one\\x0atwo\\x09three"
    assert terminal_text("one\ntwo\tthree", multiline=True) == "one\ntwo\tthree"


def test_no_code_point_survives_that_is_invisible_or_a_control() -> None:
    everything = "".join(chr(c) for c in range(0x110000))
    for multiline in (False, True):
        shown = terminal_text(everything, multiline=multiline)
        bad = {
            c
            for c in shown
            if unicodedata.category(c) in ESCAPED_CATEGORIES and not (multiline and c in "\n\t")
        }
        assert not bad, sorted(hex(ord(c)) for c in bad)[:10]
        assert not BIDI_CONTROLS & set(shown)
        shown.encode("utf-8")


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\\x09cmd"),
        ("\rcmd", "'\\x0dcmd"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("ada", "ada"),
        ("a=b", "a=b"),
        ("x\x1b[31my", "x\\x1b[31my"),
        ("two\nlines", "two\\x0alines"),
    ],
)
def test_csv_cell_neutralises_formulas_and_controls(raw: str, cell: str) -> None:
    assert csv_cell(raw) == cell


def hostile_feedback() -> Feedback:
    outcomes = [Outcome(check=c.id, title=c.id, passed=True) for c in CHECKS]
    outcomes.append(
        Outcome(check="generate_output", title="gen", passed=False, message=f"raised {HOSTILE}")
    )
    feedback = feedback_from_outcomes(outcomes)
    feedback.submission = f"{HOSTILE}.py"
    feedback.isolated = True
    return feedback


@pytest.mark.parametrize("color", [False, True])
def test_panel_never_passes_hostile_text_through(color: bool) -> None:
    feedback = hostile_feedback()
    text = render(feedback, "panel", color=color)
    for raw in ("\x1b[31mred", "\x1b]8", "\x1b[2J", "\x07", "\x00", "\x9b", "\r", ":smile:"):
        if raw == ":smile:":
            assert raw in text, "rich emoji codes are not expanded"
            continue
        assert raw not in text, f"{raw!r} reached the output raw"
    assert not BIDI_CONTROLS & set(text) and "\u200b" not in text and "\ufeff" not in text
    own_styles = re.sub(r"\x1b\[[0-9;]*m", "", text)  # rich's colours (hostile ones are escaped)
    flat = "".join(own_styles.replace("│", "").split())  # and the panel's wrapping
    assert "[boldred]loud[/boldred]" in flat, "markup is shown, not interpreted"
    assert "[link=http://evil.example]x[/link]" in flat
    assert "\\x1b[31mred" in flat
    if not color:
        assert "\x1b" not in text


def test_panel_shows_markup_in_a_file_name_literally() -> None:
    feedback = sample(False)
    feedback.submission = "[bold]ada[/bold] [link=http://evil]x[/link].py"
    text = render(feedback, "panel", color=True)
    assert "[bold]ada[/bold] [link=http://evil]x[/link].py" in text
    assert "\x1b]8" not in text, "no hyperlink escape"


def test_json_output_is_ascii_and_round_trips_hostile_text() -> None:
    feedback = hostile_feedback()
    text = render(feedback, "json")
    assert text.isascii(), "a bidi override or C1 control would reach the terminal raw"
    assert Feedback.model_validate_json(text) == feedback
