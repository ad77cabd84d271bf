"""The hidden suite against the bank: each bug caught by its check, each correct solution passed.

All cases are graded once, in parallel, by ``grader.selftest`` (the same code
as ``grade selftest``); each case is then reported as its own test.
"""

from __future__ import annotations

import os

import pytest
from support import process_settings

from grader.rubric import CHECKS
from grader.selftest import Case, CaseResult, cases, run_selftest

CASES = cases()


@pytest.fixture(scope="module")
def results() -> dict[str, CaseResult]:
    graded = run_selftest(process_settings(), jobs=os.cpu_count() or 2)
    return {r.case.name: r for r in graded}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_suite_judges_case(case: Case, results: dict[str, CaseResult]) -> None:
    result = results[case.name]
    assert result.ok, f"{case.name} ({case.description}): {result.detail}"


def test_bank_is_large_enough_and_covers_every_check() -> None:
    bugs = [c for c in CASES if c.must_fail is not None]
    correct = [c for c in CASES if c.must_fail is None and c.name != "reference"]
    assert len(bugs) >= 185
    assert len(correct) >= 28  # issue 21: at least 20 styles; every one we have
    assert {c.must_fail for c in bugs} == {c.id for c in CHECKS}
