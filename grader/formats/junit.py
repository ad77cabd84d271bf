"""JUnit XML: what CI systems (GitLab, Jenkins, GitHub's test reporters) read.

One ``<testsuite>`` per submission and one ``<testcase>`` per rubric check, so a
CI page lists the concepts. A failed check is a ``<failure>`` whose message is
its first issue and whose text holds every issue with its line and hint. A
file that could not run (syntax, policy, import, timeout...) is the student's
result, so its checks are failures too, each saying why. A result that is not
gradable (our infrastructure failed) is an ``<error>`` on every check: CI tools
show errors apart from failures, and no score is claimed.

The XML is written by junitparser. Every text that may quote a student (the
file name, a message) goes through :func:`~.safe_text.xml_text` first: XML 1.0
cannot carry control characters at all, and they are shown as escapes as in
the terminal. The output validates against the JUnit schema Jenkins' xUnit
plugin publishes (``tests/junit-10.xsd``), which GitLab and the GitHub
reporters also accept.

junitparser is imported here only: this module never runs in the sandbox.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import PurePath

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from ..models import CheckResult, Feedback
from ..rubric import CHECKS
from .prairielearn import issue_lines
from .safe_text import xml_text

DOCUMENT_NAME = "minigpt-grader"


def _fmt(value: float) -> str:
    return f"{value:g}"


def _case(suite_name: str, check: CheckResult, feedback: Feedback) -> TestCase:
    case = TestCase(name=xml_text(f"{check.id}: {check.title}", multiline=False))
    case.classname = suite_name
    if check.passed:
        return case
    if feedback.error is not None and not check.issues:
        where = f" (line {feedback.error.line})" if feedback.error.line else ""
        reason = f"{feedback.error.kind}: {feedback.summary}"
        failure = Failure(xml_text(f"Did not run: {reason}", multiline=False), feedback.error.kind)
        failure.text = xml_text(f"{feedback.error.message}{where}")
    else:
        lines = issue_lines(check) or [f"Not earned (0/{_fmt(check.max_score)})."]
        failure = Failure(xml_text(lines[0], multiline=False), check.id)
        failure.text = xml_text("\n".join(lines))
    case.result = [failure]
    return case


def _not_gradable_case(suite_name: str, check_id: str, title: str, message: str) -> TestCase:
    case = TestCase(name=xml_text(f"{check_id}: {title}", multiline=False))
    case.classname = suite_name
    error = Error(xml_text(message, multiline=False), "infrastructure")
    error.text = xml_text(f"{message}\nNot gradable: no score is recorded; grade it again.")
    case.result = [error]
    return case


def junit_suite(name: str, feedback: Feedback) -> TestSuite:
    """The testsuite of one submission (``name``: the student id or the file's name)."""
    suite_name = xml_text(name, multiline=False)
    suite = TestSuite(suite_name)
    cases: list[TestCase]
    if not feedback.gradable:
        message = feedback.error.message if feedback.error else feedback.summary
        titles = {c.id: c.title for c in feedback.checks} or {c.id: c.title for c in CHECKS}
        cases = [_not_gradable_case(suite_name, i, t, message) for i, t in titles.items()]
    else:
        cases = [_case(suite_name, check, feedback) for check in feedback.checks]
    for key, value in (
        ("score", "" if feedback.score is None else _fmt(feedback.score)),
        ("max_score", _fmt(feedback.max_score)),
        ("status", feedback.status),
        ("gradable", str(feedback.gradable).lower()),
        ("summary", feedback.summary),
        ("submission", feedback.submission),
        ("submission_sha256", feedback.submission_sha256),
        ("grader_version", feedback.grader_version),
        ("suite_hash", feedback.suite_hash),
    ):
        suite.add_property(key, xml_text(value, multiline=False))
    suite.add_testcases(cases)
    suite.time = round(feedback.durations.total, 3)
    return suite


def junit_document(results: Mapping[str, Feedback]) -> JUnitXml:
    """One testsuite per submission (student id -> feedback), in the given order.

    Suites are appended as they are (``add_testsuite`` would merge suites that
    compare equal, comparing each new one with every other). The totals are
    set here rather than by junitparser's ``update_statistics``, which would
    also write a ``skipped`` count the schema does not allow on ``<testsuites>``.
    """
    document = JUnitXml(DOCUMENT_NAME)
    suites = [junit_suite(name, feedback) for name, feedback in results.items()]
    for suite in suites:
        document.append(suite)
    document.tests = sum(s.tests for s in suites)
    document.failures = sum(s.failures for s in suites)
    document.errors = sum(s.errors for s in suites)
    document.time = round(sum(s.time or 0.0 for s in suites), 3)
    return document


def to_junit_xml(results: Mapping[str, Feedback]) -> str:
    """The JUnit XML document as text (UTF-8, with its XML declaration)."""
    buffer = io.BytesIO()
    junit_document(results).write(buffer, pretty=True)
    return buffer.getvalue().decode("utf-8")


def to_junit(feedback: Feedback) -> str:
    """One submission's JUnit XML, its suite named after the file (``minigpt``)."""
    name = PurePath(feedback.submission).stem if feedback.submission else "submission"
    return to_junit_xml({name or "submission": feedback})
