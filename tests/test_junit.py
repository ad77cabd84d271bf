"""JUnit XML (``--format junit``), validated against the schema CI tools read.

``junit-10.xsd`` is the JUnit schema Jenkins' xUnit plugin publishes (MIT, kept
as published): the de-facto reference for the files GitLab, Jenkins and
GitHub's test reporters import. Every document written here must validate
against it (with xmlschema) and read back (with junitparser) as what it says.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from click.testing import CliRunner
from junitparser import Error, Failure, JUnitXml
from support import REFERENCE, check_results

from grader.cli import cli
from grader.formats import render
from grader.formats.junit import to_junit_xml
from grader.models import ErrorInfo, Feedback, Issue
from grader.rubric import CHECKS

SCHEMA_PATH = Path(__file__).parent / "junit-10.xsd"
HOSTILE = "a\x00b\x1b[31m\x7f\x85\ufffe\uffff" + os.fsdecode(b"\xff") + "]]></failure><x>&amp;"


@functools.cache
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA_PATH)


def valid(text: str) -> JUnitXml:
    """The document, once the schema accepted it."""
    schema().validate(text)
    return JUnitXml.fromstring(text.encode("utf-8"))


def failed(issues: dict[str, list[Issue]]) -> Feedback:
    checks = check_results(issues)
    return Feedback(
        status="failed",
        summary=f"{len(issues)} issues detected",
        score=sum(c.score for c in checks),
        max_score=100.0,
        checks=checks,
        submission="minigpt.py",
    )


def results_of(document: JUnitXml) -> dict[str, dict[str, Any]]:
    """suite -> testcase name -> its result (None when it passed)."""
    return {
        suite.name: {case.name: (case.result[0] if case.result else None) for case in suite}
        for suite in document
    }


def test_the_schema_is_a_real_check() -> None:
    """What the schema refuses (so a passing validation means something)."""
    good = '<testsuites><testsuite name="s" tests="0" failures="0" errors="0"/></testsuites>'
    schema().validate(good)
    for bad in (
        '<testsuites skipped="0"><testsuite name="s" tests="0" failures="0" errors="0"/>'
        "</testsuites>",  # what junitparser's update_statistics would write
        '<testsuites><testsuite name="s" failures="0" errors="0"/></testsuites>',
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0" time="1e-05">'
        "</testsuite></testsuites>",
        '<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase/>'
        "</testsuite></testsuites>",
    ):
        assert not schema().is_valid(bad), bad


def test_one_testcase_per_check_and_failures_carry_message_line_and_hint() -> None:
    issue = Issue(test="t", message="row 0 moved", hint="Mask j > i.", line=12)
    second = Issue(test="u", message="token 5 moved", hint="Mask j > i.")
    feedback = failed(
        {"causal_mask": [issue, second], "training": [Issue(test="t", message="flat")]}
    )
    document = valid(render(feedback, "junit"))
    (suite,) = document
    assert suite.name == "minigpt" and (suite.tests, suite.failures, suite.errors) == (18, 2, 0)
    cases = results_of(document)["minigpt"]
    assert len(cases) == len(CHECKS)
    result = cases["causal_mask: Causal mask: no position sees the future"]
    assert isinstance(result, Failure) and result.type == "causal_mask"
    assert result.message == "row 0 moved (line 12)"
    assert result.text == "row 0 moved (line 12)\nHint: Mask j > i.\ntoken 5 moved"
    assert sum(r is None for r in cases.values()) == 16
    properties = {p.name: p.value for p in suite.properties()}
    assert properties["score"] == "83" and properties["gradable"] == "true"


def test_a_file_that_did_not_run_fails_every_check_saying_why() -> None:
    error = ErrorInfo(kind="syntax", message="Syntax error on line 3: invalid syntax.", line=3)
    document = valid(render(Feedback.from_error(error), "junit"))
    (cases,) = results_of(document).values()
    assert all(isinstance(r, Failure) and r.type == "syntax" for r in cases.values())
    assert all("line 3" in (r.text or "") for r in cases.values())


def test_not_gradable_is_an_error_on_every_check_never_a_failure() -> None:
    document = valid(render(Feedback.not_gradable("The Docker engine is down."), "junit"))
    (suite,) = document
    assert (suite.tests, suite.failures, suite.errors) == (18, 0, 18)
    for result in results_of(document)[suite.name].values():
        assert isinstance(result, Error) and result.type == "infrastructure"
        assert "Docker engine is down" in (result.message or "")
    assert {p.name: p.value for p in suite.properties()}["score"] == ""


def test_student_text_cannot_break_the_xml() -> None:
    """Control characters, noncharacters, undecodable bytes, markup: escaped, still valid."""
    feedback = failed({"shapes": [Issue(test="t", message=HOSTILE, hint=HOSTILE, line=1)]})
    feedback.submission = HOSTILE + ".py"
    text = to_junit_xml({HOSTILE: feedback})
    document = valid(text)
    (suite,) = document
    assert "\\x1b[31m" in suite.name and "\\ufffe" in suite.name and "\\xff" in suite.name
    result = next(r for r in results_of(document)[suite.name].values() if r is not None)
    assert result.message.startswith("a\\x00b\\x1b[31m") and "]]></failure><x>&amp;" in result.text


def test_grade_prints_junit_and_exits_as_usual(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["--sandbox", "process", "--format", "junit", str(REFERENCE)])
    assert ok.exit_code == 0, ok.output
    (suite,) = valid(ok.stdout)
    assert (suite.tests, suite.failures, suite.errors) == (18, 0, 0)
    assert "Points 100/100" in ok.stderr, "stdout stays pure XML"
    broken = tmp_path / "minigpt.py"
    broken.write_text("def broken(:\n")
    out = tmp_path / "report.xml"
    bad = runner.invoke(
        cli, ["--sandbox", "process", "--format", "junit", "-o", str(out), str(broken)]
    )
    assert bad.exit_code == 1
    (suite,) = valid(out.read_text(encoding="utf-8"))
    assert suite.failures == 18


def test_batch_writes_one_file_with_one_testsuite_per_student(class_out: Path) -> None:
    document = valid((class_out / "junit.xml").read_text(encoding="utf-8"))
    students = sorted(p.stem for p in (class_out / "results").glob("*.json"))
    assert [suite.name for suite in document] == students
    suites = {suite.name: suite for suite in document}
    assert suites["fay"].failures == 0 and suites["dee"].failures == 1
    assert suites["eve"].failures == 18 and suites["gus"].failures == 18
    assert document.tests == 18 * len(students)


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_batch_writes_junit_only_when_asked(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "class"
    root.mkdir()
    (root / "ada.py").write_text("import os\n")
    out = tmp_path / "out"
    args = ["batch", str(root), "--out", str(out), "--sandbox", "process", "--format", fmt]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (out / "junit.xml").exists() == (fmt == "junit")
