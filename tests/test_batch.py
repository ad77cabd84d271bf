"""Batch grading: discovery, the right row per submission, resuming, platform files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
import zipfile
from pathlib import Path

import hostile
import pytest
from click.testing import CliRunner
from gradescope_spec import GradescopeResults
from support import REFERENCE, SKELETON, process_settings

from grader.batch import (
    ID_MAX_BYTES,
    BatchGrader,
    Entry,
    discover,
    gradebook_csv,
    load_results,
    student_id,
)
from grader.cli import cli
from grader.errors import ImageMissing, SandboxFailed, SandboxUnavailable
from grader.formats.gradescope import gradescope_results
from grader.models import Feedback
from grader.rubric import CHECKS
from grader.sandbox.process import ProcessBackend
from grader.submission import Submission


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
    paths = [tmp_path / "a" / "minigpt.py", tmp_path / "b" / "minigpt.py"]
    ids = [e.student for e in discover(paths)]
    assert len(set(ids)) == 2 and all(i.startswith("minigpt~") for i in ids)
    again = {e.path: e.student for e in discover(list(reversed(paths)))}
    assert [again[p] for p in paths] == ids, "an id depends on the file, not on the order"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ada", "ada"),
        ("Ada Lovelace - minigpt (final)", "Ada_Lovelace_-_minigpt_final"),
        ("-rf", "rf"),
        ("..", "submission"),
        ("José", "José"),
        ("evil\u202egnp", "evil_gnp"),
        ("a~b", "a_b"),
        (os.fsdecode(b"\xff\xfe"), "xff_xfe"),
        ("x" * 300, "x" * ID_MAX_BYTES),
    ],
)
def test_student_id_is_a_safe_file_name(name: str, expected: str) -> None:
    assert student_id(name) == expected


def colliding_class(root: Path) -> dict[str, bytes]:
    """Files whose names normalise to the same id, each with different bytes."""
    broken = b"def broken(:\n"
    files = {
        "a b.py": REFERENCE.read_bytes(),
        "a_b.py": broken,
        "a?b.py": b"import os\n",
        "A_B.py": b"x = 1\n",  # the same file as a_b.py on a case-insensitive disk
        "a_b~0123456789.py": b"y = 2\n",  # looks like a suffixed id, is not one
        "a_b-2.py": b"z = 3\n",  # what the old scheme gave the second a_b
    }
    root.mkdir()
    for name, raw in files.items():
        (root / name).write_bytes(raw)
    (root / "a_b").mkdir()  # a student folder with the same name as a file
    (root / "a_b" / "minigpt.py").write_bytes(b"w = 4\n")
    return {**files, "a_b/minigpt.py": b"w = 4\n"}


def test_names_that_normalise_alike_get_distinct_stable_ids(tmp_path: Path) -> None:
    root = tmp_path / "class"
    colliding_class(root)
    entries = discover([root])
    ids = [e.student for e in entries]
    assert len(ids) == 7
    assert len({i.casefold() for i in ids}) == 7, ids
    assert sum(i.casefold().startswith("a_b~") for i in ids) == 5, ids
    assert {"a_b_0123456789", "a_b-2"} <= set(ids)
    assert [e.student for e in discover([root])] == ids, "ids are the same on every run"
    assert discover([root, root / "a b.py"]) == entries, "a file named twice is graded once"


def test_colliding_names_never_overwrite_each_other(tmp_path: Path) -> None:
    root = tmp_path / "class"
    files = colliding_class(root)
    out = tmp_path / "out"
    args = ["batch", str(root), "--out", str(out), "--sandbox", "process", "-j", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    results = sorted((out / "results").glob("*.json"))
    assert len(results) == len(files)
    shas = {Feedback.model_validate_json(p.read_text()).submission_sha256 for p in results}
    assert shas == {hashlib.sha256(raw).hexdigest() for raw in files.values()}
    rows = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text())))
    assert len(rows) == len(files) and len({r["student"] for r in rows}) == len(files)
    assert sorted(r["score"] for r in rows).count("100") == 1
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "7 already done" in again.output


def test_names_that_are_not_utf8_are_graded_without_stopping_the_batch(tmp_path: Path) -> None:
    root = tmp_path / "class"
    root.mkdir()
    raw_root = bytes(root)
    with open(raw_root + b"/\xff\xfe.py", "wb") as handle:
        handle.write(REFERENCE.read_bytes())
    with open(raw_root + b"/caf\xe9.py", "wb") as handle:
        handle.write(b"import os\n")
    os.mkdir(raw_root + b"/\xe9tudiant")
    with open(raw_root + b"/\xe9tudiant/\xff.py", "wb") as handle:
        handle.write(REFERENCE.read_bytes())
    os.symlink(bytes(REFERENCE), raw_root + b"/\x1b[31m\xfe.py")
    (root / "zed.py").write_bytes(REFERENCE.read_bytes())
    out = tmp_path / "out"
    args = ["batch", str(root), "--out", str(out), "--sandbox", "process", "-j", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = {
        r["student"]: r for r in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))
    }
    assert set(rows) == {"xff_xfe", "caf_xe9", "xe9tudiant", "31m_xfe", "zed"}
    assert rows["xff_xfe"]["score"] == "100" and rows["xe9tudiant"]["score"] == "100"
    assert rows["zed"]["score"] == "100"
    assert rows["caf_xe9"]["status"] == "error"
    link = Feedback.model_validate_json((out / "results" / "31m_xfe.json").read_text())
    assert link.error is not None and "symbolic link" in link.error.message
    assert "\x1b[31m\\xfe.py" in link.error.message, "kept as data; shown neutralised"
    first = Feedback.model_validate_json((out / "results" / "xff_xfe.json").read_text())
    assert first.submission == "\\xff\\xfe.py"
    assert "\x1b" not in result.output


def test_gradebook_cells_cannot_inject_formulas_or_controls() -> None:
    feedback = Feedback.not_gradable("x")
    text = gradebook_csv({'=HYPERLINK("http://evil")': feedback, "a\x1b[31m\nb": feedback})
    rows = list(csv.reader(io.StringIO(text)))
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://evil")', "a\\x1b[31m\\x0ab"]
    assert "\x1b" not in text


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
    assert rows["gus"]["training"] == "7", "a hang in generate keeps the other checks' credit"
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


class FlakyBackend(ProcessBackend):
    """The real process backend behind a daemon that fails its first ``failures`` runs."""

    def __init__(self, failures: int) -> None:
        super().__init__(process_settings())
        self.failures = failures
        self.calls = 0

    def run(self, submission: Submission, cancel: threading.Event | None = None) -> Feedback:
        self.calls += 1
        if self.calls <= self.failures:
            raise SandboxFailed("the daemon went away")
        return super().run(submission, cancel)


def _one_student(tmp_path: Path, source: str) -> list[Entry]:
    path = tmp_path / "subs" / "ann.py"
    path.parent.mkdir()
    path.write_text(source)
    return discover([path.parent])


def test_infrastructure_errors_are_retried_then_not_gradable(tmp_path: Path) -> None:
    entries = _one_student(tmp_path, "x = 1\n")  # passes the host's checks: the backend runs
    backend = FlakyBackend(failures=99)
    report = BatchGrader(process_settings(), tmp_path / "out", 1, 1, backend).run(entries)
    assert backend.calls == 2 and report.not_gradable == 1
    feedback = load_results(tmp_path / "out", entries)["ann"]
    assert not feedback.gradable and feedback.score is None
    assert "after 2 attempts" in feedback.summary
    row = gradebook_csv({"ann": feedback}).splitlines()[1].split(",")
    assert row[:4] == ["ann", "error", "false", ""], "never a zero for our failure"


def test_a_passing_hiccup_is_retried_and_graded(tmp_path: Path) -> None:
    entries = _one_student(tmp_path, "x = 1\n")
    backend = FlakyBackend(failures=1)
    report = BatchGrader(process_settings(), tmp_path / "out", 1, 2, backend).run(entries)
    assert backend.calls == 2 and report.not_gradable == 0
    feedback = load_results(tmp_path / "out", entries)["ann"]
    assert feedback.gradable and feedback.status == "failed" and feedback.score == 0


def test_a_missing_image_stops_the_batch_before_grading(tmp_path: Path) -> None:
    """Retrying cannot build an image: the batch says so at once and records nothing."""
    entries = _one_student(tmp_path, REFERENCE.read_text())
    settings = process_settings()
    settings.sandbox = "docker"
    settings.image = "minigpt-grader:does-not-exist"
    grader = BatchGrader(settings, tmp_path / "out", jobs=1, retries=3)
    with pytest.raises((ImageMissing, SandboxUnavailable)):
        grader.run(entries)
    assert not list((tmp_path / "out").glob("results/*.json"))


def test_results_json_validates_against_gradescope_spec() -> None:
    from grader.api import grade

    feedback = grade(REFERENCE, process_settings())
    GradescopeResults.model_validate(gradescope_results(feedback))
    GradescopeResults.model_validate(
        gradescope_results(Feedback.not_gradable("x"))
        | {"tests": [{"name": "not gradable", "score": 0, "max_score": 0}]}
    )


@pytest.mark.parametrize("hide", ["due_date", "none"])
def test_gradescope_package_grades_like_gradescope(tmp_path: Path, hide: str) -> None:
    """By default the student sees the score and each check's points at once (every test
    visible: a hidden test would hide the total score, Gradescope's rule) and the details
    after the due date (on the autograder's stdout, marked so); with none, at once."""
    import subprocess
    import sys

    from solutions.mutations import MUTATIONS, apply, reference_source

    zip_path = tmp_path / "autograder.zip"
    args = ["gradescope-package", "--out", str(zip_path)]
    result = CliRunner().invoke(
        cli, args if hide == "due_date" else [*args, "--hide-details-until", hide]
    )
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
    bug = next(m for m in MUTATIONS if m.id == "mask_missing")
    (root / "submission" / "whatever_name.py").write_text(apply(bug, reference_source()))
    env = {"AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        ["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    text = (root / "results" / "results.json").read_text()
    results = GradescopeResults.model_validate_json(text)
    assert results.score == 90
    assert results.tests is not None and len(results.tests) == len(CHECKS)
    assert {t.visibility for t in results.tests} == {"visible"}, "the total score shows"
    mask = next(t for t in results.tests if "[causal_mask]" in (t.name or ""))
    assert (mask.score, mask.max_score, mask.status) == (0, 10, "failed")
    if hide == "due_date":
        assert results.stdout_visibility == "after_due_date"
        assert mask.output == "The details of this check are shown after the due date."
        assert "position 0 sees" not in text, "no detail in results.json"
        assert "position 0 sees" in proc.stdout and "hint:" in proc.stdout, "the details"
    else:
        assert results.stdout_visibility == "hidden"
        assert mask.output is not None and "position 0 sees" in mask.output


def test_batch_requires_paths(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["batch", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--sandbox", "process"],
    )
    assert result.exit_code == 2
    assert "No such file or folder" in result.output


def test_gradebook_has_a_column_per_check_and_the_page(tmp_path: Path) -> None:
    header = gradebook_csv({}).splitlines()[0].split(",")
    assert header == [
        "student",
        "status",
        "gradable",
        "score",
        "max_score",
        *(c.id for c in CHECKS),
        "page",
    ]
