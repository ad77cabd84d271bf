"""PrairieLearn: the results.json writer, and the real image run as PrairieLearn runs it.

The Docker tests start the grader image the way PrairieLearn's grader host
does (its ``createContainer`` call): the job folder bind-mounted at
``/grade``, the question's ``entrypoint`` as the container's entrypoint, a
TTY, networking off, 2 GiB, 0.9 CPU, 1024 pids, no core dumps, and no init,
as root. Every results.json is checked against PrairieLearn's documented
format (``tests/prairielearn_spec.py``).
"""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prairielearn_spec import PrairieLearnResults, validate_results_text
from support import REFERENCE, check_results

from grader.cli import cli
from grader.formats import render
from grader.formats.prairielearn import MAX_BYTES, to_prairielearn_json
from grader.models import ErrorInfo, Feedback, Issue
from grader.rubric import CHECKS
from grader.settings import DEFAULT_IMAGE

ENTRYPOINT = "/usr/local/bin/minigpt-prairielearn"
NO_MASK = REFERENCE.read_text().replace("visible = i + 1 if causal else len(x)", "visible = len(x)")


def feedback_with(failing: dict[str, list[Issue]]) -> Feedback:
    """A normal verdict: every check passed but those in ``failing``."""
    checks = check_results(failing)
    score = sum(c.score for c in checks)
    return Feedback(
        status="failed" if failing else "passed",
        summary=f"{len(failing)} issues detected" if failing else "No issues detected",
        score=score,
        max_score=sum(c.points for c in CHECKS),
        checks=checks,
        grader_version="1.0.0",
        suite_hash="abc",
    )


def parsed(feedback: Feedback) -> PrairieLearnResults:
    return validate_results_text(to_prairielearn_json(feedback))


def test_a_partial_verdict_maps_every_check_to_a_test() -> None:
    issue = Issue(test="t", message="row 0 moved", hint="Apply the mask.", line=12)
    results = parsed(feedback_with({"causal_mask": [issue]}))
    assert results.gradable is True
    assert results.score == pytest.approx(0.9)
    assert results.tests is not None and len(results.tests) == len(CHECKS)
    by_name = {t.name: t for t in results.tests}
    mask = by_name[next(c.title for c in CHECKS if c.id == "causal_mask")]
    assert (mask.points, mask.max_points) == (0.0, 10.0)
    assert mask.message is not None and "row 0 moved" in mask.message
    assert mask.output is not None and "line 12" in mask.output and "Apply the mask." in mask.output
    assert sum(t.points or 0 for t in results.tests) == pytest.approx(90)
    assert results.format_errors == []


def test_full_marks_are_score_one() -> None:
    results = parsed(feedback_with({}))
    assert results.score == 1.0
    assert results.message == "No issues detected"
    assert results.tests is not None
    assert all(t.points == t.max_points for t in results.tests)


def test_infrastructure_failure_is_not_gradable() -> None:
    results = parsed(Feedback.not_gradable("The judge container ended with status 137"))
    assert results.gradable is False
    assert results.score is None
    assert results.format_errors, "a not-gradable result says why"
    assert results.output is not None and "status 137" in results.output


@pytest.mark.parametrize("kind", ["syntax", "policy"])
def test_a_file_that_cannot_run_costs_no_attempt(kind: str) -> None:
    feedback = Feedback.from_error(ErrorInfo(kind=kind, message="invalid syntax", line=3))  # type: ignore[arg-type]
    results = parsed(feedback)
    assert results.gradable is False
    assert results.format_errors == ["invalid syntax (line 3)"]


def test_an_import_failure_is_graded_zero() -> None:
    feedback = Feedback.from_error(ErrorInfo(kind="import", message="Importing your file failed"))
    results = parsed(feedback)
    assert results.gradable is True
    assert results.score == 0.0
    assert results.message == "Importing your file failed"
    assert results.tests is not None and all(t.points == 0 for t in results.tests)


def test_results_stay_under_the_size_limit() -> None:
    huge = [Issue(test="t", message="x" * 300_000, hint=None) for _ in range(6)]
    text = to_prairielearn_json(feedback_with({c.id: huge for c in CHECKS}))
    assert len(text.encode()) <= MAX_BYTES
    validate_results_text(text)


def test_output_is_ascii_json() -> None:
    issue = Issue(test="t", message="\u202eevil \x85 name", hint=None)
    text = render(feedback_with({"shapes": [issue]}), "prairielearn")
    assert text.isascii()
    assert json.loads(text)["tests"][0]["message"].startswith("\u202eevil")


def test_cli_writes_prairielearn_results(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        cli, [str(REFERENCE), "--sandbox", "process", "--format", "prairielearn", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    results = validate_results_text(out.read_text())
    assert results.score == 1.0 and results.gradable


# --- the real image, run the way PrairieLearn runs it -----------------------------------


def run_like_prairielearn(
    client: Any, job: Path, entrypoint: str = ENTRYPOINT, **host: Any
) -> tuple[int, str]:
    """One grading job: PrairieLearn's container settings, then the container removed."""
    from docker.types import Ulimit

    options: dict[str, Any] = {
        "entrypoint": entrypoint.split(" "),
        "tty": True,
        "network_disabled": True,
        "volumes": {str(job): {"bind": "/grade", "mode": "rw"}},
        "mem_limit": "2g",
        "memswap_limit": "2g",
        "cpu_period": 100_000,
        "cpu_quota": 90_000,
        "pids_limit": 1024,
        "ipc_mode": "private",
        "ulimits": [Ulimit(name="core", soft=0, hard=0)],
        "labels": {"org.minigpt-grader.test": "prairielearn"},
        "name": f"minigpt-pl-test-{uuid.uuid4().hex[:8]}",
    }
    options.update(host)
    container = client.containers.create(DEFAULT_IMAGE, **options)
    try:
        container.start()
        status = container.wait(timeout=300)["StatusCode"]
        log = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True, v=True)
    return status, log


def make_job(tmp_path: Path, files: dict[str, str]) -> Path:
    """A /grade tree as PrairieLearn lays it out: data/data.json and student/."""
    job = tmp_path / "grade"
    (job / "data").mkdir(parents=True)
    (job / "data" / "data.json").write_text(json.dumps({"params": {}, "submitted_answers": {}}))
    (job / "student").mkdir()
    for name, text in files.items():
        (job / "student" / name).write_text(text)
    return job


def job_results(job: Path) -> PrairieLearnResults:
    return validate_results_text((job / "results" / "results.json").read_text())


@pytest.mark.docker
def test_image_grades_a_correct_submission(docker_client: Any, tmp_path: Path) -> None:
    job = make_job(tmp_path, {"minigpt.py": REFERENCE.read_text()})
    status, log = run_like_prairielearn(docker_client, job)
    assert status == 0, log
    results = job_results(job)
    assert results.gradable and results.score == 1.0
    assert results.tests is not None and len(results.tests) == len(CHECKS)
    assert {t.name for t in results.tests} == {c.title for c in CHECKS}
    assert all(t.points == t.max_points for t in results.tests)
    # the job folder was locked to root while the student's code ran
    assert stat.S_IMODE(job.stat().st_mode) == 0o700


@pytest.mark.docker
def test_image_grades_a_bug_under_its_check(docker_client: Any, tmp_path: Path) -> None:
    job = make_job(tmp_path, {"my_solution.py": NO_MASK})  # any single .py name
    status, log = run_like_prairielearn(docker_client, job)
    assert status == 0, log
    results = job_results(job)
    assert results.gradable is True
    assert results.score is not None and results.score <= 0.9
    assert results.tests is not None
    mask = next(t for t in results.tests if t.name.startswith("Causal mask"))
    assert mask.points == 0 and mask.max_points == 10
    assert mask.output


@pytest.mark.docker
def test_image_reports_a_syntax_error_without_using_an_attempt(
    docker_client: Any, tmp_path: Path
) -> None:
    job = make_job(tmp_path, {"minigpt.py": "def broken(:\n    pass\n"})
    status, log = run_like_prairielearn(docker_client, job)
    assert status == 0, log
    results = job_results(job)
    assert results.gradable is False
    assert isinstance(results.format_errors, list) and "line 1" in results.format_errors[0]


@pytest.mark.docker
def test_image_reports_a_missing_file(docker_client: Any, tmp_path: Path) -> None:
    job = make_job(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    status, log = run_like_prairielearn(docker_client, job)
    assert status == 0, log
    results = job_results(job)
    assert results.gradable is False
    assert results.format_errors == ["Submit exactly one Python file, minigpt.py."]


@pytest.mark.docker
def test_image_infrastructure_failure_is_not_gradable(docker_client: Any, tmp_path: Path) -> None:
    """Without CAP_SETUID the judge cannot start: our failure, never a zero."""
    job = make_job(tmp_path, {"minigpt.py": REFERENCE.read_text()})
    status, log = run_like_prairielearn(docker_client, job, cap_drop=["SETUID"])
    assert status == 0, log
    results = job_results(job)
    assert results.gradable is False and results.score is None
    assert results.format_errors
