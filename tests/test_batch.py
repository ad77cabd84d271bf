"""Batch grading: discovery, the right row per submission, resuming, platform files."""

from __future__ import annotations

import csv
import io
import json
import threading
import zipfile
from pathlib import Path

import hostile
import pytest
from click.testing import CliRunner
from conftest import REFERENCE, SKELETON, process_settings
from gradescope_spec import GradescopeResults

from grader.batch import BatchGrader, discover, gradebook_csv, load_results
from grader.cli import cli
from grader.formats.gradescope import gradescope_results
from grader.judge.verdict import infrastructure_feedback
from grader.models import Feedback
from grader.rubric import CHECKS


@pytest.fixture
def classroom(tmp_path: Path) -> Path:
    """One folder per student, plus loose files: correct, buggy, hostile, malformed."""
    root = tmp_path / "class"
    (root / "ada").mkdir(parents=True)
    (root / "ada" / "minigpt.py").write_bytes(REFERENCE.read_bytes())
    (root / "bo").mkdir()
    (root / "bo" / "my solution.py").write_text(
        hostile.reference_with(
            "def generate(model, start_ids, max_new_tokens, temperature=1.0):\n"
            "    return list(start_ids) + [0] * max_new_tokens"
        )
    )
    (root / "cy").mkdir()
    (root / "cy" / "minigpt.py").write_text("import os\nos.system('echo hi')\n")
    (root / "dee").mkdir()
    (root / "dee" / "notes.txt").write_text("forgot to upload")
    (root / "eve.py").write_bytes(b"\xff\xfe binary \x00")
    (root / "fay.py").write_bytes(SKELETON.read_bytes())
    (root / "gus.py").write_text(hostile.hang_in_generate())
    return root


def test_discover_handles_every_layout(classroom: Path) -> None:
    entries = {e.student: e for e in discover([classroom])}
    assert set(entries) == {"ada", "bo", "cy", "dee", "eve", "fay", "gus"}
    assert entries["bo"].path is not None and entries["bo"].path.name == "my solution.py"
    assert entries["dee"].path is None and "no .py file" in (entries["dee"].problem or "")


def test_discover_makes_ids_unique(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "minigpt.py").write_text("x = 1\n")
    ids = [
        e.student for e in discover([tmp_path / "a" / "minigpt.py", tmp_path / "b" / "minigpt.py"])
    ]
    assert ids == ["minigpt", "minigpt-2"]


def test_mixed_batch_gives_the_right_row_for_each(classroom: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "batch",
            str(classroom),
            "--out",
            str(out),
            "--sandbox",
            "process",
            "-j",
            "2",
            "--test-timeout",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {
        r["student"]: r for r in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))
    }
    assert rows["ada"]["status"] == "passed" and rows["ada"]["score"] == "100"
    assert rows["bo"]["status"] == "failed" and rows["bo"]["generate_sampling"] == "0"
    assert rows["bo"]["causal_mask"] == "10"
    assert rows["cy"]["status"] == "error" and rows["cy"]["score"] == "0"
    assert rows["dee"]["status"] == "error"
    assert rows["eve"]["status"] == "error"
    assert rows["fay"]["status"] == "failed" and rows["fay"]["score"] == "0"
    assert rows["gus"]["status"] == "failed" and rows["gus"]["generate_output"] == "0"
    assert rows["gus"]["training"] == "8", "a hang in generate keeps the other checks' credit"
    assert all(r["gradable"] == "true" for r in rows.values())
    cy = Feedback.model_validate_json((out / "results" / "cy.json").read_text())
    assert cy.error is not None and cy.error.kind == "policy"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["submissions"] == 7 and summary["passed"] == 1
    rates = {c["id"]: c["pass_rate"] for c in summary["checks"]}
    assert rates["generate_sampling"] == round(1 / 7, 4)
    assert rates["causal_mask"] == round(3 / 7, 4)


def test_interrupted_batch_resumes_with_each_result_once(tmp_path: Path) -> None:
    folder = tmp_path / "subs"
    folder.mkdir()
    for i in range(4):
        (folder / f"s{i}.py").write_bytes(REFERENCE.read_bytes())
    out = tmp_path / "out"
    entries = discover([folder])
    grader = BatchGrader(process_settings(), out, jobs=1)
    seen: list[str] = []

    def stop_after_two(student: str, feedback: Feedback | None) -> None:
        seen.append(student)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grader.run(entries, stop_after_two)
    assert len(load_results(out, entries)) == 2
    assert not list(out.rglob("*.tmp")), "an interrupted batch left a half-written file"

    again: list[tuple[str, bool]] = []
    report = BatchGrader(process_settings(), out, jobs=2).run(
        entries, lambda s, f: again.append((s, f is None))
    )
    assert report.skipped == 2 and report.graded == 2
    assert sorted(s for s, skipped in again) == ["s0", "s1", "s2", "s3"]
    results = load_results(out, entries)
    assert sorted(results) == ["s0", "s1", "s2", "s3"]
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))
    assert sorted(r["student"] for r in rows) == ["s0", "s1", "s2", "s3"]


def test_changed_submission_is_graded_again(tmp_path: Path) -> None:
    path = tmp_path / "subs" / "ann.py"
    path.parent.mkdir()
    path.write_bytes(REFERENCE.read_bytes())
    out = tmp_path / "out"
    BatchGrader(process_settings(), out, jobs=1).run(discover([path.parent]))
    path.write_text("import os\n")
    report = BatchGrader(process_settings(), out, jobs=1).run(discover([path.parent]))
    assert report.graded == 1 and report.skipped == 0
    assert load_results(out, discover([path.parent]))["ann"].status == "error"


def test_infrastructure_errors_are_retried_then_not_gradable(tmp_path: Path) -> None:
    path = tmp_path / "subs" / "ann.py"
    path.parent.mkdir()
    path.write_bytes(REFERENCE.read_bytes())
    settings = process_settings()
    settings.sandbox = "docker"
    settings.image = "minigpt-grader:does-not-exist"
    grader = BatchGrader(settings, tmp_path / "out", jobs=1, retries=1)
    calls = threading.Event()
    report = grader.run(discover([path.parent]), lambda s, f: calls.set())
    assert report.not_gradable == 1
    feedback = load_results(tmp_path / "out", discover([path.parent]))["ann"]
    assert not feedback.gradable and feedback.score is None
    assert "after 2 attempts" in feedback.summary
    row = gradebook_csv({"ann": feedback}).splitlines()[1].split(",")
    assert row[:4] == ["ann", "error", "false", ""], "never a zero for our failure"


def test_results_json_validates_against_gradescope_spec() -> None:
    from grader.api import grade

    feedback = grade(REFERENCE, process_settings())
    GradescopeResults.model_validate(gradescope_results(feedback))
    GradescopeResults.model_validate(
        gradescope_results(infrastructure_feedback("x"))
        | {"tests": [{"name": "not gradable", "score": 0, "max_score": 0}]}
    )


def test_gradescope_package_grades_like_gradescope(tmp_path: Path) -> None:
    import subprocess
    import sys

    zip_path = tmp_path / "autograder.zip"
    result = CliRunner().invoke(cli, ["gradescope-package", "--out", str(zip_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        assert {
            "setup.sh",
            "run_autograder",
            "source/pyproject.toml",
            "source/grader/suite/test_shapes.py",
            "source/reference/minigpt.py",
        } <= names
        mode = archive.getinfo("run_autograder").external_attr >> 16
        assert mode & 0o111, "run_autograder must be executable"
        archive.extractall(root)
    (root / "submission").mkdir()
    (root / "submission" / "whatever_name.py").write_bytes(REFERENCE.read_bytes())
    env = {"AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    results = GradescopeResults.model_validate_json((root / "results" / "results.json").read_text())
    assert results.score == 100
    assert results.tests is not None and len(results.tests) == len(CHECKS)
    assert {t.visibility for t in results.tests} == {"after_due_date"}


def test_batch_requires_paths(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--sandbox", "process"],
    )
    assert result.exit_code == 2
    assert "No such file or folder" in result.output


def test_gradebook_has_a_column_per_check(tmp_path: Path) -> None:
    header = gradebook_csv({}).splitlines()[0].split(",")
    assert header == [
        "student",
        "status",
        "gradable",
        "score",
        "max_score",
        *(c.id for c in CHECKS),
    ]
